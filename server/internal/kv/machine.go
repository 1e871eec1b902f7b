package kv

import (
	"fmt"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Name is the subsystem's registered name; it is in every log entry and
// snapshot, so it never changes.
const Name = "kv"

// Ops: part of the log format, never renumber one.
const (
	OpCreateBucket uint16 = 1
	OpUpdateBucket uint16 = 2
	OpDeleteBucket uint16 = 3
	OpPut          uint16 = 4
	OpCreate       uint16 = 5
	OpUpdate       uint16 = 6
	OpDelete       uint16 = 7
	OpPurge        uint16 = 8
)

// Machine is the KV state machine: every bucket, key and retained entry.
// Mutations arrive through Apply (from the raft log) and Tick; reads come
// from the API layer under the read lock.
type Machine struct {
	mu      sync.RWMutex
	buckets map[string]*bucket
	lastID  uint64                  // bucket ids: a recreated bucket is a new bucket to watchers
	notify  notify.Notifier[string] // keyed by bucket; fired after every change in it, outside mu
	// Bounds of each bucket's change log (SetWatchBacklog).
	maxChanges     int
	maxChangeBytes int64
}

// bucket is one bucket. log holds every retained entry in revision order;
// entries removed by trimming, purge or expiry are marked and skipped, and
// compacted away once they are the majority. changes holds the latest
// changes whether retained or not, for watchers; hole is the highest
// revision whose entry neither holds any more (0: none), so a watch can
// resume from any revision at or above it without a gap.
type bucket struct {
	id          uint64
	cfg         *kvpb.KVBucketConfig
	createdAtMs int64
	rev         uint64
	keys        map[string]*keyState
	log         []*entry
	head        int // log[:head] are all removed
	removed     int // removed entries in log[head:]
	live        int64
	bytes       int64
	entries     int64
	changes     changeLog
	hole        uint64
}

type keyState struct {
	hist []*entry // oldest first; the last is the key's latest entry
}

// entry is immutable once made, except removed (guarded by the machine's
// lock). pb is built once and shared by every reader: it is never modified.
type entry struct {
	pb      *kvpb.KVEntry
	removed bool
}

func (e *entry) size() int64 { return int64(len(e.pb.Key) + len(e.pb.Value)) }

// New returns an empty machine.
func New() *Machine {
	return &Machine{buckets: map[string]*bucket{},
		maxChanges: DefaultWatchBacklog, maxChangeBytes: DefaultWatchBacklogBytes}
}

var _ fsm.Subsystem = (*Machine)(nil)

// Name implements fsm.Subsystem.
func (m *Machine) Name() string { return Name }

// Apply implements fsm.Subsystem.
func (m *Machine) Apply(cmd fsm.Command) any { return m.ApplyOp(cmd.Op, cmd.AtMs, cmd.Payload) }

// Watch subscribes to the changes of bucket (see notify): the waiter wakes
// after every applied change in it, and after a restore.
func (m *Machine) Watch(bucket string) *notify.Waiter[string] { return m.notify.Watch(bucket) }

// ApplyOp applies one committed command. It is deterministic: time is atMs.
// A malformed payload or unknown op answers an error value and changes
// nothing.
func (m *Machine) ApplyOp(op uint16, atMs int64, payload []byte) any {
	var (
		res     any
		changed string
	)
	m.mu.Lock()
	switch op {
	case OpCreateBucket:
		var req kvpb.KVServiceCreateBucketRequest
		if err := proto.Unmarshal(payload, &req); err != nil {
			m.mu.Unlock()
			return fmt.Errorf("kv: bad CreateBucket payload: %w", err)
		}
		res = m.createBucket(req.GetConfig(), atMs)
	case OpUpdateBucket:
		var req kvpb.KVServiceUpdateBucketRequest
		if err := proto.Unmarshal(payload, &req); err != nil {
			m.mu.Unlock()
			return fmt.Errorf("kv: bad UpdateBucket payload: %w", err)
		}
		res, changed = m.updateBucket(req.GetConfig())
	case OpDeleteBucket:
		var req kvpb.KVServiceDeleteBucketRequest
		if err := proto.Unmarshal(payload, &req); err != nil {
			m.mu.Unlock()
			return fmt.Errorf("kv: bad DeleteBucket payload: %w", err)
		}
		res, changed = m.deleteBucket(req.GetBucket())
	case OpPut, OpCreate, OpUpdate, OpDelete, OpPurge:
		w, err := decodeWrite(op, payload)
		if err != nil {
			m.mu.Unlock()
			return err
		}
		res, changed = m.write(op, w, atMs)
	default:
		m.mu.Unlock()
		return fmt.Errorf("kv: unknown op %d", op)
	}
	m.mu.Unlock()
	if changed != "" {
		m.notify.Fire(changed)
	}
	return res
}

// writeReq is the common shape of the five key mutations.
type writeReq struct {
	bucket, key, requestID string
	value                  []byte
	lastRev                uint64
}

func decodeWrite(op uint16, payload []byte) (writeReq, error) {
	var w writeReq
	var err error
	switch op {
	case OpPut:
		var r kvpb.KVServicePutRequest
		err = proto.Unmarshal(payload, &r)
		w = writeReq{bucket: r.Bucket, key: r.Key, value: r.Value, requestID: r.RequestId}
	case OpCreate:
		var r kvpb.KVServiceCreateRequest
		err = proto.Unmarshal(payload, &r)
		w = writeReq{bucket: r.Bucket, key: r.Key, value: r.Value, requestID: r.RequestId}
	case OpUpdate:
		var r kvpb.KVServiceUpdateRequest
		err = proto.Unmarshal(payload, &r)
		w = writeReq{bucket: r.Bucket, key: r.Key, value: r.Value, lastRev: r.LastRevision, requestID: r.RequestId}
	case OpDelete:
		var r kvpb.KVServiceDeleteRequest
		err = proto.Unmarshal(payload, &r)
		w = writeReq{bucket: r.Bucket, key: r.Key, lastRev: r.LastRevision, requestID: r.RequestId}
	case OpPurge:
		var r kvpb.KVServicePurgeRequest
		err = proto.Unmarshal(payload, &r)
		w = writeReq{bucket: r.Bucket, key: r.Key, lastRev: r.LastRevision, requestID: r.RequestId}
	}
	if err != nil {
		return w, fmt.Errorf("kv: bad op %d payload: %w", op, err)
	}
	return w, nil
}

// writeResponse builds the response proto of a key mutation.
func writeResponse(op uint16, r *commonpb.Result, rev uint64) any {
	switch op {
	case OpPut:
		return &kvpb.KVServicePutResponse{Result: r, Revision: rev}
	case OpCreate:
		return &kvpb.KVServiceCreateResponse{Result: r, Revision: rev}
	case OpUpdate:
		return &kvpb.KVServiceUpdateResponse{Result: r, Revision: rev}
	case OpDelete:
		return &kvpb.KVServiceDeleteResponse{Result: r, Revision: rev}
	default:
		return &kvpb.KVServicePurgeResponse{Result: r, Revision: rev}
	}
}

func (m *Machine) write(op uint16, w writeReq, atMs int64) (any, string) {
	// A retry of the same request_id never reaches here: the FSM answers
	// it with the first answer (fsm/dedup.go).
	r, rev := m.writeKey(op, w, atMs)
	if rev == 0 {
		return writeResponse(op, r, 0), ""
	}
	return writeResponse(op, r, rev), w.bucket
}

// writeKey applies a key mutation and returns its result and the new
// entry's revision (0 when nothing changed).
func (m *Machine) writeKey(op uint16, w writeReq, atMs int64) (*commonpb.Result, uint64) {
	b := m.buckets[w.bucket]
	if b == nil {
		return result.Failf(result.CodeNotFound, "bucket %q does not exist", w.bucket), 0
	}
	if int64(len(w.value)) > b.cfg.MaxValueSize {
		return result.Failf(result.CodeInvalidArgument, "value: is %d bytes, bucket limit %d", len(w.value), b.cfg.MaxValueSize), 0
	}
	k := b.keys[w.key]
	var latest *entry
	if k != nil {
		latest = k.hist[len(k.hist)-1]
	}
	var latestRev uint64
	if latest != nil {
		latestRev = latest.pb.Revision
	}
	kvop := kvpb.KVOperation_KV_OPERATION_PUT
	switch op {
	case OpCreate:
		if latest != nil && latest.pb.Operation == kvpb.KVOperation_KV_OPERATION_PUT {
			return result.Failf(result.CodeExists, "key %q exists at revision %d", w.key, latestRev), 0
		}
	case OpUpdate:
		if latestRev != w.lastRev {
			return result.Failf(result.CodeWrongRevision, "key %q is at revision %d, not %d", w.key, latestRev, w.lastRev), 0
		}
	case OpDelete, OpPurge:
		if w.lastRev != 0 && latestRev != w.lastRev {
			return result.Failf(result.CodeWrongRevision, "key %q is at revision %d, not %d", w.key, latestRev, w.lastRev), 0
		}
		kvop = kvpb.KVOperation_KV_OPERATION_DELETE
		if op == OpPurge {
			kvop = kvpb.KVOperation_KV_OPERATION_PURGE
		}
	}
	if b.cfg.MaxBytes > 0 {
		add := int64(len(w.key) + len(w.value))
		var freed int64
		if k != nil {
			if kvop == kvpb.KVOperation_KV_OPERATION_PURGE {
				for _, e := range k.hist {
					freed += e.size()
				}
			} else if len(k.hist) >= int(b.cfg.History) {
				freed = k.hist[0].size()
			}
		}
		if b.bytes-freed+add > b.cfg.MaxBytes {
			return result.Failf(result.CodeLimitExceeded, "bucket %q would hold %d bytes, max_bytes %d", w.bucket, b.bytes-freed+add, b.cfg.MaxBytes), 0
		}
	}
	e := m.append(b, w.key, w.value, kvop, atMs)
	b.compact()
	return result.OK(), e.pb.Revision
}

// append writes a new entry for key as the bucket's next revision, trimming
// the key's history to the bucket's limit (a purge drops it all). It leaves
// the log's layout alone (callers compact when they are done walking it).
// The entry joins the bucket's change log.
func (m *Machine) append(b *bucket, key string, value []byte, op kvpb.KVOperation, atMs int64) *entry {
	b.rev++
	k := b.keys[key]
	if k == nil {
		k = &keyState{}
		b.keys[key] = k
	}
	if n := len(k.hist); n > 0 && k.hist[n-1].pb.Operation == kvpb.KVOperation_KV_OPERATION_PUT {
		b.live--
	}
	if op == kvpb.KVOperation_KV_OPERATION_PURGE {
		for _, old := range k.hist {
			b.drop(old)
		}
		k.hist = k.hist[:0]
	}
	e := &entry{pb: &kvpb.KVEntry{Bucket: b.cfg.Name, Key: key, Value: value, Revision: b.rev, CreatedAtMs: atMs, Operation: op}}
	k.hist = append(k.hist, e)
	b.trim(k, int(b.cfg.History))
	if op == kvpb.KVOperation_KV_OPERATION_PUT {
		b.live++
	}
	b.bytes += e.size()
	b.entries++
	b.log = append(b.log, e)
	b.record(e, m.maxChanges, m.maxChangeBytes)
	return e
}

// trim drops a key's oldest entries beyond max.
func (b *bucket) trim(k *keyState, max int) {
	if over := len(k.hist) - max; over > 0 {
		for _, old := range k.hist[:over] {
			b.drop(old)
		}
		k.hist = append(k.hist[:0], k.hist[over:]...)
	}
}

func (b *bucket) drop(e *entry) {
	e.removed = true
	b.removed++
	b.bytes -= e.size()
	b.entries--
	b.forgot(e)
}

// compact advances head over removed entries and rewrites the log once
// removed entries are the majority, so the log stays proportional to what
// is retained.
func (b *bucket) compact() {
	for b.head < len(b.log) && b.log[b.head].removed {
		b.log[b.head] = nil
		b.head++
		b.removed--
	}
	if b.head == len(b.log) {
		b.log = b.log[:0]
		b.head = 0
		return
	}
	if n := len(b.log) - b.head; b.removed > 64 && b.removed > n/2 || b.head > 1024 && b.head > n {
		kept := make([]*entry, 0, n-b.removed+16)
		for _, e := range b.log[b.head:] {
			if !e.removed {
				kept = append(kept, e)
			}
		}
		b.log, b.head, b.removed = kept, 0, 0
	}
}

func (m *Machine) createBucket(cfg *kvpb.KVBucketConfig, atMs int64) *kvpb.KVServiceCreateBucketResponse {
	if cfg == nil {
		return &kvpb.KVServiceCreateBucketResponse{Result: result.Failf(result.CodeInvalidArgument, "config: is required")}
	}
	if rule := msec.Check(cfg.GetTtlMs()); rule != "" {
		return &kvpb.KVServiceCreateBucketResponse{Result: result.Failf(result.CodeInvalidArgument, "config.ttl_ms: %s", rule)}
	}
	if b := m.buckets[cfg.Name]; b != nil {
		if !proto.Equal(b.cfg, cfg) {
			return &kvpb.KVServiceCreateBucketResponse{Result: result.Failf(result.CodeExists, "bucket %q exists with another configuration", cfg.Name), Info: b.info()}
		}
		return &kvpb.KVServiceCreateBucketResponse{Result: result.OK(), Info: b.info()}
	}
	m.lastID++
	b := &bucket{id: m.lastID, cfg: proto.Clone(cfg).(*kvpb.KVBucketConfig), createdAtMs: atMs, keys: map[string]*keyState{}}
	m.buckets[cfg.Name] = b
	return &kvpb.KVServiceCreateBucketResponse{Result: result.OK(), Info: b.info()}
}

func (m *Machine) updateBucket(cfg *kvpb.KVBucketConfig) (*kvpb.KVServiceUpdateBucketResponse, string) {
	if cfg == nil {
		return &kvpb.KVServiceUpdateBucketResponse{Result: result.Failf(result.CodeInvalidArgument, "config: is required")}, ""
	}
	if rule := msec.Check(cfg.GetTtlMs()); rule != "" {
		return &kvpb.KVServiceUpdateBucketResponse{Result: result.Failf(result.CodeInvalidArgument, "config.ttl_ms: %s", rule)}, ""
	}
	b := m.buckets[cfg.Name]
	if b == nil {
		return &kvpb.KVServiceUpdateBucketResponse{Result: result.Failf(result.CodeNotFound, "bucket %q does not exist", cfg.Name)}, ""
	}
	b.cfg = proto.Clone(cfg).(*kvpb.KVBucketConfig)
	// Trim in key order so that every replica drops the same entries in the
	// same order (the outcome does not depend on it, but keep it obvious).
	names := make([]string, 0, len(b.keys))
	for k := range b.keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b.trim(b.keys[k], int(cfg.History))
	}
	b.compact()
	return &kvpb.KVServiceUpdateBucketResponse{Result: result.OK(), Info: b.info()}, cfg.Name
}

func (m *Machine) deleteBucket(name string) (*kvpb.KVServiceDeleteBucketResponse, string) {
	if m.buckets[name] == nil {
		return &kvpb.KVServiceDeleteBucketResponse{Result: result.Failf(result.CodeNotFound, "bucket %q does not exist", name)}, ""
	}
	delete(m.buckets, name)
	return &kvpb.KVServiceDeleteBucketResponse{Result: result.OK()}, name
}

func (b *bucket) info() *kvpb.KVBucketInfo {
	return &kvpb.KVBucketInfo{
		Config:      proto.Clone(b.cfg).(*kvpb.KVBucketConfig),
		Values:      b.live,
		Bytes:       b.bytes,
		Revision:    b.rev,
		CreatedAtMs: b.createdAtMs,
		Entries:     b.entries,
	}
}

// Tick expires entries older than their bucket's TTL as of atMs. An expired
// latest PUT leaves a PURGE marker (a new revision, so watchers see it); an
// expired older entry or marker just goes.
func (m *Machine) Tick(atMs int64) {
	var changed []string
	m.mu.Lock()
	for name, b := range m.buckets {
		if m.expire(b, atMs) {
			changed = append(changed, name)
		}
	}
	m.mu.Unlock()
	for _, name := range changed {
		m.notify.Fire(name)
	}
}

func (m *Machine) expire(b *bucket, atMs int64) bool {
	ttl := b.cfg.TtlMs
	if ttl <= 0 {
		return false
	}
	changed := false
	// Entries are in creation-time order in the log (revision order, and
	// time never goes back), so the expired ones are a prefix of it.
	for i := b.head; i < len(b.log); i++ {
		e := b.log[i]
		if e.removed {
			continue
		}
		if msec.Add(e.pb.CreatedAtMs, ttl) > atMs {
			break
		}
		k := b.keys[e.pb.Key]
		if len(k.hist) == 1 {
			if e.pb.Operation == kvpb.KVOperation_KV_OPERATION_PUT {
				m.append(b, e.pb.Key, nil, kvpb.KVOperation_KV_OPERATION_PURGE, atMs)
				changed = true
				continue
			}
			b.drop(e)
			delete(b.keys, e.pb.Key)
			continue
		}
		// Not the latest: the oldest of its key.
		b.drop(e)
		k.hist = append(k.hist[:0], k.hist[1:]...)
	}
	b.compact()
	return changed
}

// NextDeadline is the earliest time a Tick would expire something, or 0.
func (m *Machine) NextDeadline() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var next int64
	for _, b := range m.buckets {
		if b.cfg.TtlMs <= 0 {
			continue
		}
		for i := b.head; i < len(b.log); i++ {
			if e := b.log[i]; !e.removed {
				if d := msec.Add(e.pb.CreatedAtMs, b.cfg.TtlMs); next == 0 || d < next {
					next = d
				}
				break
			}
		}
	}
	return next
}

package cache

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Name is the state machine's registered name; it is in every log entry.
const Name = "cache"

// Ops: part of the log format, never renumber.
const (
	OpAttach uint16 = 1
	OpDetach uint16 = 2
	OpEvict  uint16 = 3
)

// policy is one attached policy and its replicated counters. Hits and
// misses are not here: reads do not go through raft, so the leader counts
// them in the service.
type policy struct {
	pb          *cachepb.CachePolicy // replaced, never modified
	attachedAt  int64
	evictions   int64
	expirations int64
}

// Machine is the replicated half of the cache: which buckets have
// which policy, and the evictions and expirations applied. Evictions are
// decided by the leader (which alone sees reads) and proposed as explicit
// keys with their revisions; applying one purges the key through the KV
// machine's own op, so every replica removes the same keys at the same
// point of the log. DefaultTTL expiry is decided by Tick from the KV state.
type Machine struct {
	kv *kv.Machine

	mu       sync.RWMutex
	policies map[string]*policy
	// next is when Tick should next look for keys past a DefaultTTL: a
	// scheduling hint only (too early costs a no-op tick), computed by Tick
	// and lowered by the service when it sees a write.
	next int64
}

// NewStateMachine returns an empty state machine over the KV machine m.
func New(m *kv.Machine) *Machine {
	return &Machine{kv: m, policies: map[string]*policy{}}
}

var _ fsm.Subsystem = (*Machine)(nil)

// Name implements fsm.Subsystem.
func (m *Machine) Name() string { return Name }

// evictResult is what applying OpEvict answers: the keys it purged.
type evictResult struct{ evicted int }

// Apply implements fsm.Subsystem.
func (m *Machine) Apply(cmd fsm.Command) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch cmd.Op {
	case OpAttach:
		var req cachepb.CacheServiceAttachPolicyRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("cache: attach payload: %w", err)
		}
		p := withDefaults(req.GetPolicy())
		if rule := msec.Check(p.GetDefaultTtlMs()); rule != "" {
			return &cachepb.CacheServiceAttachPolicyResponse{Result: result.Invalid("policy.default_ttl_ms", rule)}
		}
		if _, ok := m.kv.Info(p.GetBucket()); !ok {
			return &cachepb.CacheServiceAttachPolicyResponse{Result: result.Failf(result.CodeNotFound, "bucket %q does not exist", p.GetBucket())}
		}
		m.policies[p.GetBucket()] = &policy{pb: p, attachedAt: cmd.AtMs}
		if p.GetDefaultTtlMs() > 0 {
			m.next = 1 // look at the bucket's keys at the next tick
		}
		return &cachepb.CacheServiceAttachPolicyResponse{Result: result.OK(), Policy: p}
	case OpDetach:
		var req cachepb.CacheServiceDetachPolicyRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("cache: detach payload: %w", err)
		}
		if _, ok := m.policies[req.GetBucket()]; !ok {
			return &cachepb.CacheServiceDetachPolicyResponse{Result: result.Failf(result.CodeNotFound, "bucket %q has no cache policy", req.GetBucket())}
		}
		delete(m.policies, req.GetBucket())
		return &cachepb.CacheServiceDetachPolicyResponse{Result: result.OK()}
	case OpEvict:
		bucket, victims, err := decodeEvict(cmd.Payload)
		if err != nil {
			return err
		}
		p := m.policies[bucket]
		if p == nil {
			return evictResult{} // detached meanwhile: detaching stops eviction
		}
		n := 0
		for _, v := range victims {
			if m.purge(bucket, v.Key, v.Revision, cmd.AtMs) {
				n++
			}
		}
		p.evictions += int64(n)
		return evictResult{evicted: n}
	default:
		return fmt.Errorf("cache: unknown op %d", cmd.Op)
	}
}

// purge removes key from the KV bucket when its latest entry is still the
// one at rev (a key written since the leader chose it is not evicted).
func (m *Machine) purge(bucket, key string, rev uint64, atMs int64) bool {
	e, r := m.kv.Get(bucket, key, 0)
	if r != nil || e.GetRevision() != rev {
		return false
	}
	payload, err := proto.Marshal(&kvpb.KVServicePurgeRequest{Bucket: bucket, Key: key, LastRevision: rev})
	if err != nil {
		return false
	}
	resp, ok := m.kv.ApplyOp(kv.OpPurge, atMs, payload).(*kvpb.KVServicePurgeResponse)
	return ok && resp.GetResult().GetSuccess()
}

func withDefaults(p *cachepb.CachePolicy) *cachepb.CachePolicy {
	c := &cachepb.CachePolicy{}
	if p != nil {
		c = proto.CloneOf(p)
	}
	if c.Eviction == cachepb.CacheEviction_CACHE_EVICTION_UNSPECIFIED {
		c.Eviction = cachepb.CacheEviction_CACHE_EVICTION_LRU
	}
	return c
}

// Victim is a key an eviction removes, if it is still at Revision.
type Victim struct {
	Key      string
	Revision uint64
}

// EncodeEvict is OpEvict's payload: bucket, then (key, revision) pairs.
func EncodeEvict(bucket string, vs []Victim) []byte {
	b := binary.AppendUvarint(nil, uint64(len(bucket)))
	b = append(b, bucket...)
	for _, v := range vs {
		b = binary.AppendUvarint(b, uint64(len(v.Key)))
		b = append(b, v.Key...)
		b = binary.AppendUvarint(b, v.Revision)
	}
	return b
}

func decodeEvict(p []byte) (string, []Victim, error) {
	str := func() (string, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return "", false
		}
		s := string(p[k : k+int(n)])
		p = p[k+int(n):]
		return s, true
	}
	bucket, ok := str()
	if !ok {
		return "", nil, errors.New("cache: evict payload: bad bucket")
	}
	var vs []Victim
	for len(p) > 0 {
		key, ok := str()
		if !ok {
			return "", nil, errors.New("cache: evict payload: bad key")
		}
		rev, k := binary.Uvarint(p)
		if k <= 0 {
			return "", nil, errors.New("cache: evict payload: bad revision")
		}
		p = p[k:]
		vs = append(vs, Victim{key, rev})
	}
	return bucket, vs, nil
}

// Tick implements fsm.Subsystem: keys written more than a policy's
// DefaultTTL ago (counting from the write, or from the attach for older
// keys) are purged. It reads the KV state, which every replica shares at
// this point of the log, so every replica purges the same keys.
func (m *Machine) Tick(atMs int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	buckets := make([]string, 0, len(m.policies))
	for b, p := range m.policies {
		if p.pb.GetDefaultTtlMs() > 0 {
			buckets = append(buckets, b)
		}
	}
	sort.Strings(buckets)
	var next int64
	for _, b := range buckets {
		p := m.policies[b]
		ttl := p.pb.GetDefaultTtlMs()
		keys, r := m.kv.Keys(b, "", "")
		if r != nil {
			continue
		}
		for _, k := range keys {
			e, r := m.kv.Get(b, k, 0)
			if r != nil {
				continue
			}
			at := msec.Add(max(e.GetCreatedAtMs(), p.attachedAt), ttl)
			if at <= atMs {
				if m.purge(b, k, e.GetRevision(), atMs) {
					p.expirations++
				}
			} else if next == 0 || at < next {
				next = at
			}
		}
	}
	m.next = next
}

// NextDeadline implements fsm.Subsystem.
func (m *Machine) NextDeadline() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.next
}

// NoteWrite lowers the next deadline for a write at atMs to bucket.
func (m *Machine) NoteWrite(bucket string, atMs int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.policies[bucket]; p != nil && p.pb.GetDefaultTtlMs() > 0 {
		if at := msec.Add(atMs, p.pb.GetDefaultTtlMs()); m.next == 0 || at < m.next {
			m.next = at
		}
	}
}

// PolicyOf returns bucket's policy and counters, or false.
func (m *Machine) PolicyOf(bucket string) (p *cachepb.CachePolicy, attachedAt, evictions, expirations int64, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	pol := m.policies[bucket]
	if pol == nil {
		return nil, 0, 0, 0, false
	}
	return pol.pb, pol.attachedAt, pol.evictions, pol.expirations, true
}

// Attached reports whether bucket has a policy (the KV hot path asks).
func (m *Machine) Attached(bucket string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.policies[bucket]
	return ok
}

// List returns up to limit policies of buckets sorted after `after`.
func (m *Machine) List(after string, limit int) ([]*cachepb.CachePolicy, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.policies))
	for b := range m.policies {
		if b > after {
			names = append(names, b)
		}
	}
	sort.Strings(names)
	more := len(names) > limit
	if more {
		names = names[:limit]
	}
	out := make([]*cachepb.CachePolicy, len(names))
	for i, b := range names {
		out[i] = m.policies[b].pb
	}
	return out, more
}

// Snapshot layout: "WMCA" | version:1 | count | (bytes(policy) | attachedAt |
// evictions | expirations)*, integers varint-encoded.
const (
	snapMagic   = "WMCA"
	snapVersion = 1
)

// Snapshot implements fsm.Subsystem.
func (m *Machine) Snapshot() (func(w io.Writer) error, error) {
	m.mu.RLock()
	var buf []byte
	buf = append(buf, snapMagic...)
	buf = append(buf, snapVersion)
	buckets := make([]string, 0, len(m.policies))
	for b := range m.policies {
		buckets = append(buckets, b)
	}
	sort.Strings(buckets)
	buf = binary.AppendUvarint(buf, uint64(len(buckets)))
	for _, b := range buckets {
		p := m.policies[b]
		pb, err := proto.Marshal(p.pb)
		if err != nil {
			m.mu.RUnlock()
			return nil, err
		}
		buf = binary.AppendUvarint(buf, uint64(len(pb)))
		buf = append(buf, pb...)
		buf = binary.AppendVarint(buf, p.attachedAt)
		buf = binary.AppendVarint(buf, p.evictions)
		buf = binary.AppendVarint(buf, p.expirations)
	}
	m.mu.RUnlock()
	return func(w io.Writer) error {
		_, err := w.Write(buf)
		return err
	}, nil
}

// Restore implements fsm.Subsystem.
func (m *Machine) Restore(r io.Reader) error {
	policies := map[string]*policy{}
	br := bufio.NewReader(r)
	var magic [len(snapMagic) + 1]byte
	n, err := io.ReadFull(br, magic[:])
	if n == 0 && errors.Is(err, io.EOF) {
		m.mu.Lock()
		m.policies, m.next = policies, 0
		m.mu.Unlock()
		return nil
	}
	if err != nil || string(magic[:len(snapMagic)]) != snapMagic || magic[len(snapMagic)] != snapVersion {
		return errors.New("cache: not a cache snapshot of a known version")
	}
	count, err := binary.ReadUvarint(br)
	if err != nil {
		return fmt.Errorf("cache: restore: %w", err)
	}
	for range count {
		l, err := binary.ReadUvarint(br)
		if err != nil || l > 1<<20 {
			return fmt.Errorf("cache: restore: bad policy length")
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(br, b); err != nil {
			return fmt.Errorf("cache: restore: %w", err)
		}
		p := &policy{pb: &cachepb.CachePolicy{}}
		if err := proto.Unmarshal(b, p.pb); err != nil {
			return fmt.Errorf("cache: restore: %w", err)
		}
		var e1, e2, e3 error
		p.attachedAt, e1 = binary.ReadVarint(br)
		p.evictions, e2 = binary.ReadVarint(br)
		p.expirations, e3 = binary.ReadVarint(br)
		if err := errors.Join(e1, e2, e3); err != nil {
			return fmt.Errorf("cache: restore: %w", err)
		}
		policies[p.pb.GetBucket()] = p
	}
	m.mu.Lock()
	m.policies, m.next = policies, 1 // recompute TTL deadlines at the next tick
	m.mu.Unlock()
	return nil
}

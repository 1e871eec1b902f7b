package objstore

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Name is the state machine's registered name; it is in every log entry.
const Name = "objstore"

// Ops: part of the log format, never renumber.
const (
	OpCreateStore uint16 = 1
	OpUpdateStore uint16 = 2
	OpDeleteStore uint16 = 3
	OpCommit      uint16 = 4
	OpUpdateMeta  uint16 = 5
	OpDelete      uint16 = 6
	OpDiscard     uint16 = 7
	OpChunk       uint16 = 8
)

// DefaultChunkSize and the chunk size range of a store's configuration.
const (
	DefaultChunkSize = 128 << 10
	MinChunkSize     = 1 << 10
	MaxChunkSize     = 1 << 20
)

type store struct {
	cfg       *objstorepb.ObjectStoreConfig // replaced, never modified: readers share it
	createdAt int64
	rev       uint64
	bytes     int64 // live data
	live      int64 // live objects
	objects   map[string]*object
	// changes holds the latest changes' infos for watchers; hole is the
	// highest revision whose info neither it nor objects holds any more.
	changes changeLog
	hole    uint64
}

// object is one name's latest version or deleted marker. Its info is
// replaced on every change, never modified, so readers may keep it after
// releasing the lock.
type object struct {
	info     *objstorepb.ObjectInfo
	blob     string // "" for an empty object or a marker
	putRev   uint64 // revision of the Put that wrote the data
	putAt    int64  // time of that Put; TTL counts from it
	expireAt int64  // 0: never
	// crcs holds each chunk's CRC-32C (chunks of info.ChunkSize bytes);
	// nil for data an older server stored unchecked. Never modified.
	crcs []uint32
}

// Machine is the object store's deterministic state: stores, object
// versions, uploads in progress and which blob holds each one's data. The
// data itself lives in the blob store (files under the data dir, or memory
// without one), written by apply on every replica.
type Machine struct {
	mu      sync.RWMutex
	stores  map[string]*store
	refs    map[string]struct{} // blobs some object version refers to
	uploads map[string]*upload  // by blob id: Puts whose commit has not applied
	exp     expiryHeap
	blobs   blobStore

	uploadTimeout int64 // ms an upload may idle before a tick collects it

	// While a snapshot's writer is pending it reads blobs that apply may
	// drop meanwhile; their removal waits until the writer is done.
	pinned   bool
	deferred []string

	notify notify.Notifier[string] // keyed by store name; fired on every change in it

	backlog int // changes kept per store for watchers (SetWatchBacklog)
}

// New returns an empty state machine keeping blobs under
// dataDir/objstore, or in memory when dataDir is empty.
func New(dataDir string) (*Machine, error) {
	var bs blobStore = newMemBlobs()
	if dataDir != "" {
		fb, err := newFileBlobs(dataDir + "/objstore")
		if err != nil {
			return nil, err
		}
		bs = fb
	}
	return &Machine{stores: map[string]*store{}, refs: map[string]struct{}{}, uploads: map[string]*upload{}, blobs: bs,
		backlog: DefaultWatchBacklog, uploadTimeout: DefaultUploadTimeout}, nil
}

var _ fsm.Subsystem = (*Machine)(nil)

// Name implements fsm.Subsystem.
func (m *Machine) Name() string { return Name }

// Apply implements fsm.Subsystem.
func (m *Machine) Apply(cmd fsm.Command) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch cmd.Op {
	case OpCreateStore:
		var req objstorepb.ObjectStoreServiceCreateStoreRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("objstore: create store payload: %w", err)
		}
		if req.GetConfig().GetName() == "" {
			return errors.New("objstore: create store without a name")
		}
		return m.createStore(req.GetConfig(), cmd.AtMs)
	case OpUpdateStore:
		var req objstorepb.ObjectStoreServiceUpdateStoreRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("objstore: update store payload: %w", err)
		}
		return m.updateStore(req.GetConfig())
	case OpDeleteStore:
		var req objstorepb.ObjectStoreServiceDeleteStoreRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("objstore: delete store payload: %w", err)
		}
		return m.deleteStore(req.GetStore())
	case OpCommit:
		blob, info, err := decodeCommit(cmd.Payload)
		if err != nil {
			return err
		}
		return m.commit(blob, info, cmd.AtMs)
	case OpUpdateMeta:
		var req objstorepb.ObjectStoreServiceUpdateMetaRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("objstore: update meta payload: %w", err)
		}
		return m.updateMeta(&req, cmd.AtMs)
	case OpDelete:
		var req objstorepb.ObjectStoreServiceDeleteRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("objstore: delete payload: %w", err)
		}
		return m.deleteObject(req.GetStore(), req.GetName(), cmd.AtMs)
	case OpChunk:
		c, err := decodeChunk(cmd.Payload)
		if err != nil {
			return err
		}
		return m.applyChunk(c, cmd.AtMs)
	case OpDiscard:
		id := string(cmd.Payload)
		if !validBlobID(id) {
			return fmt.Errorf("objstore: discard: bad blob id")
		}
		// A commit that was proposed before this discard has been applied
		// by now (raft keeps the order): an upload still pending is garbage.
		m.discard(id)
		if fb, ok := m.blobs.(*fileBlobs); ok {
			fb.removeLegacy(id) // an older server's staged blob, if any
		}
		return &objstorepb.ObjectStoreServicePutResponse{Result: result.OK()}
	default:
		return fmt.Errorf("objstore: unknown op %d", cmd.Op)
	}
}

// EncodeCommit is the payload of OpCommit: the blob id, then the new
// version's info (store, meta, size, digest).
func EncodeCommit(blob string, info *objstorepb.ObjectInfo) ([]byte, error) {
	b, err := proto.Marshal(info)
	if err != nil {
		return nil, err
	}
	out := binary.AppendUvarint(make([]byte, 0, len(blob)+len(b)+2), uint64(len(blob)))
	out = append(out, blob...)
	return append(out, b...), nil
}

func decodeCommit(p []byte) (string, *objstorepb.ObjectInfo, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return "", nil, errors.New("objstore: commit payload: bad blob id length")
	}
	blob := string(p[k : k+int(n)])
	if blob != "" && !validBlobID(blob) {
		return "", nil, errors.New("objstore: commit payload: bad blob id")
	}
	var info objstorepb.ObjectInfo
	if err := proto.Unmarshal(p[k+int(n):], &info); err != nil {
		return "", nil, fmt.Errorf("objstore: commit payload: %w", err)
	}
	return blob, &info, nil
}

// withDefaults returns cfg with the default chunk size filled in.
func withDefaults(cfg *objstorepb.ObjectStoreConfig) *objstorepb.ObjectStoreConfig {
	c := &objstorepb.ObjectStoreConfig{}
	if cfg != nil {
		c = proto.CloneOf(cfg)
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	return c
}

func (s *store) infoPB() *objstorepb.ObjectStoreInfo {
	return &objstorepb.ObjectStoreInfo{Config: s.cfg, Objects: s.live, Bytes: s.bytes, Revision: s.rev, CreatedAtMs: s.createdAt}
}

func (m *Machine) createStore(cfg *objstorepb.ObjectStoreConfig, at int64) *objstorepb.ObjectStoreServiceCreateStoreResponse {
	cfg = withDefaults(cfg)
	if rule := msec.Check(cfg.GetTtlMs()); rule != "" {
		return &objstorepb.ObjectStoreServiceCreateStoreResponse{Result: result.Failf(result.CodeInvalidArgument, "config.ttl_ms: %s", rule)}
	}
	if s, ok := m.stores[cfg.GetName()]; ok {
		if proto.Equal(s.cfg, cfg) {
			return &objstorepb.ObjectStoreServiceCreateStoreResponse{Result: result.OK(), Info: s.infoPB()}
		}
		return &objstorepb.ObjectStoreServiceCreateStoreResponse{Result: result.Failf(result.CodeExists, "store %q exists with a different configuration", cfg.GetName())}
	}
	s := &store{cfg: cfg, createdAt: at, objects: map[string]*object{}}
	m.stores[cfg.GetName()] = s
	m.notify.Fire(cfg.GetName())
	return &objstorepb.ObjectStoreServiceCreateStoreResponse{Result: result.OK(), Info: s.infoPB()}
}

func (m *Machine) updateStore(cfg *objstorepb.ObjectStoreConfig) *objstorepb.ObjectStoreServiceUpdateStoreResponse {
	cfg = withDefaults(cfg)
	if rule := msec.Check(cfg.GetTtlMs()); rule != "" {
		return &objstorepb.ObjectStoreServiceUpdateStoreResponse{Result: result.Failf(result.CodeInvalidArgument, "config.ttl_ms: %s", rule)}
	}
	s, ok := m.stores[cfg.GetName()]
	if !ok {
		return &objstorepb.ObjectStoreServiceUpdateStoreResponse{Result: result.Failf(result.CodeNotFound, "store %q", cfg.GetName())}
	}
	ttlChanged := s.cfg.GetTtlMs() != cfg.GetTtlMs()
	s.cfg = cfg
	if ttlChanged {
		for _, o := range s.objects {
			m.setExpiry(s, o, o.putAt)
		}
	}
	return &objstorepb.ObjectStoreServiceUpdateStoreResponse{Result: result.OK(), Info: s.infoPB()}
}

func (m *Machine) deleteStore(name string) *objstorepb.ObjectStoreServiceDeleteStoreResponse {
	s, ok := m.stores[name]
	if !ok {
		return &objstorepb.ObjectStoreServiceDeleteStoreResponse{Result: result.Failf(result.CodeNotFound, "store %q", name)}
	}
	for _, o := range s.objects {
		m.dropBlob(o.blob)
	}
	delete(m.stores, name)
	m.notify.Fire(name)
	return &objstorepb.ObjectStoreServiceDeleteStoreResponse{Result: result.OK()}
}

func (m *Machine) commit(blob string, in *objstorepb.ObjectInfo, at int64) *objstorepb.ObjectStoreServicePutResponse {
	fail := func(r *commonpb.Result) *objstorepb.ObjectStoreServicePutResponse {
		m.discard(blob)
		return &objstorepb.ObjectStoreServicePutResponse{Result: r}
	}
	u := m.uploads[blob]
	cs := int64(0)
	var crcs []uint32
	switch {
	case blob == "":
	case u != nil:
		if err := u.complete(in.GetSize()); err != nil {
			return fail(result.Failf(result.CodeInvalidArgument, "object %q: upload incomplete: %v; nothing stored", in.GetName(), err))
		}
		cs, crcs = u.cs, u.crcs
	default:
		// No chunk of this blob came through the log: an older server
		// staged it outside raft, or the upload was collected.
		fb, ok := m.blobs.(*fileBlobs)
		if !ok || !fb.adoptLegacy(blob) {
			return fail(result.Failf(result.CodeUnavailable, "object %q: its upload was collected (idle past the upload timeout) or discarded; nothing stored", in.GetName()))
		}
	}
	s, ok := m.stores[in.GetStore()]
	if !ok {
		return fail(result.Failf(result.CodeNotFound, "store %q", in.GetStore()))
	}
	old := s.objects[in.GetName()]
	bytes := s.bytes + in.GetSize()
	if old != nil && !old.info.GetDeleted() {
		bytes -= old.info.GetSize()
	}
	if max := s.cfg.GetMaxBytes(); max > 0 && bytes > max {
		return fail(result.Failf(result.CodeLimitExceeded,
			"store %q: max_bytes %d would be exceeded (%d bytes with this object)", in.GetStore(), max, bytes))
	}
	if old != nil {
		m.removeObject(s, old)
	}
	s.superseded(old)
	s.rev++
	if cs == 0 {
		cs = int64(s.cfg.GetChunkSize())
	}
	info := &objstorepb.ObjectInfo{
		Store: in.GetStore(), Name: in.GetName(), Description: in.GetDescription(),
		Headers: in.GetHeaders(), Metadata: in.GetMetadata(),
		Size: in.GetSize(), Chunks: (in.GetSize() + cs - 1) / cs, ChunkSize: int32(cs),
		Sha256: in.GetSha256(), ModifiedAtMs: at, Revision: s.rev,
	}
	o := &object{info: info, blob: blob, putRev: s.rev, putAt: at, crcs: crcs}
	if blob != "" {
		delete(m.uploads, blob)
		m.refs[blob] = struct{}{}
	}
	s.objects[info.Name] = o
	m.record(s, info)
	s.bytes += info.Size
	s.live++
	m.setExpiry(s, o, at)
	m.notify.Fire(in.GetStore())
	return &objstorepb.ObjectStoreServicePutResponse{Result: result.OK(), Info: info}
}

// removeObject takes o out of s's accounting and drops its blob; the
// caller replaces or deletes the map entry.
func (m *Machine) removeObject(s *store, o *object) {
	if !o.info.GetDeleted() {
		s.bytes -= o.info.GetSize()
		s.live--
	}
	m.dropBlob(o.blob)
}

func (m *Machine) dropBlob(id string) {
	if id == "" {
		return
	}
	delete(m.refs, id)
	if m.pinned {
		m.deferred = append(m.deferred, id)
		return
	}
	m.blobs.remove(id)
}

// markDeleted replaces o (live) with a deleted marker at a new revision.
func (m *Machine) markDeleted(s *store, o *object, at int64) {
	m.removeObject(s, o)
	s.superseded(o)
	s.rev++
	marker := &object{info: &objstorepb.ObjectInfo{
		Store: o.info.GetStore(), Name: o.info.GetName(), ModifiedAtMs: at, Deleted: true, Revision: s.rev,
	}, putAt: at}
	s.objects[o.info.GetName()] = marker
	m.record(s, marker.info)
	m.setExpiry(s, marker, at)
}

func (m *Machine) updateMeta(req *objstorepb.ObjectStoreServiceUpdateMetaRequest, at int64) *objstorepb.ObjectStoreServiceUpdateMetaResponse {
	s, ok := m.stores[req.GetStore()]
	if !ok {
		return &objstorepb.ObjectStoreServiceUpdateMetaResponse{Result: result.Failf(result.CodeNotFound, "store %q", req.GetStore())}
	}
	o := s.objects[req.GetName()]
	if o == nil || o.info.GetDeleted() {
		return &objstorepb.ObjectStoreServiceUpdateMetaResponse{Result: result.Failf(result.CodeNotFound, "object %q", req.GetName())}
	}
	meta := req.GetMeta()
	newName := meta.GetName()
	info := proto.CloneOf(o.info)
	info.Name, info.Description, info.Headers, info.Metadata = newName, meta.GetDescription(), meta.GetHeaders(), meta.GetMetadata()
	info.ModifiedAtMs = at
	n := &object{info: info, blob: o.blob, putRev: o.putRev, putAt: o.putAt, crcs: o.crcs}
	if newName != req.GetName() {
		if t := s.objects[newName]; t != nil && !t.info.GetDeleted() {
			return &objstorepb.ObjectStoreServiceUpdateMetaResponse{Result: result.Failf(result.CodeExists, "object %q exists", newName)}
		}
		// The old name becomes a deleted marker; the data moves with the
		// new name, so its blob is not dropped.
		s.superseded(o)
		s.superseded(s.objects[newName])
		s.rev++
		marker := &object{info: &objstorepb.ObjectInfo{Store: s.cfg.GetName(), Name: req.GetName(), ModifiedAtMs: at, Deleted: true, Revision: s.rev}, putAt: at}
		s.objects[req.GetName()] = marker
		m.record(s, marker.info)
		m.setExpiry(s, marker, at)
		s.rev++
		n.putRev = s.rev // a Get pinned to the old name's revision cannot resume on the new name
	} else {
		s.superseded(o)
		s.rev++
	}
	info.Revision = s.rev
	s.objects[newName] = n
	m.record(s, info)
	if newName != req.GetName() {
		m.setExpiry(s, n, n.putAt)
	} else {
		n.expireAt = o.expireAt // its heap entry stays valid
	}
	m.notify.Fire(req.GetStore())
	return &objstorepb.ObjectStoreServiceUpdateMetaResponse{Result: result.OK(), Info: info}
}

func (m *Machine) deleteObject(storeName, name string, at int64) *objstorepb.ObjectStoreServiceDeleteResponse {
	s, ok := m.stores[storeName]
	if !ok {
		return &objstorepb.ObjectStoreServiceDeleteResponse{Result: result.Failf(result.CodeNotFound, "store %q", storeName)}
	}
	o := s.objects[name]
	if o == nil || o.info.GetDeleted() {
		return &objstorepb.ObjectStoreServiceDeleteResponse{Result: result.Failf(result.CodeNotFound, "object %q", name)}
	}
	m.markDeleted(s, o, at)
	m.notify.Fire(storeName)
	return &objstorepb.ObjectStoreServiceDeleteResponse{Result: result.OK()}
}

// setExpiry schedules o to expire TTL after from (its Put, or its deletion
// for a marker), when the store has a TTL.
func (m *Machine) setExpiry(s *store, o *object, from int64) {
	o.expireAt = 0
	if ttl := s.cfg.GetTtlMs(); ttl > 0 {
		o.expireAt = msec.Add(from, ttl)
		heap.Push(&m.exp, expiry{at: o.expireAt, store: s.cfg.GetName(), name: o.info.GetName(), rev: o.info.GetRevision()})
	}
}

// Tick implements fsm.Subsystem: live objects past their TTL become
// deleted markers, and markers past theirs disappear.
func (m *Machine) Tick(atMs int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []expiry
	for m.exp.Len() > 0 && m.exp[0].at <= atMs {
		due = append(due, heap.Pop(&m.exp).(expiry))
	}
	// The heap's order among equal times depends on its history, which a
	// restored replica does not share; sort so every replica assigns the
	// same revisions.
	slices.SortFunc(due, func(a, b expiry) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		if c := strings.Compare(a.store, b.store); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for _, e := range due {
		s := m.stores[e.store]
		if s == nil {
			continue
		}
		o := s.objects[e.name]
		if o == nil || o.expireAt != e.at || o.expireAt == 0 || o.expireAt > atMs {
			continue // stale entry: the object changed since
		}
		if o.info.GetDeleted() {
			s.superseded(o)
			delete(s.objects, e.name)
		} else {
			m.markDeleted(s, o, atMs)
		}
		m.notify.Fire(e.store)
	}
	m.expireUploads(atMs)
}

// NextDeadline implements fsm.Subsystem.
func (m *Machine) NextDeadline() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	next := m.nextUploadDeadline()
	if m.exp.Len() > 0 && (next == 0 || m.exp[0].at < next) {
		next = m.exp[0].at
	}
	return next
}

type expiry struct {
	at          int64
	store, name string
	rev         uint64
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

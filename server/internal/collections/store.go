package collections

import (
	"sort"

	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Store kinds.
const (
	kindAny   = pb.CollectionsStoreKind_COLLECTIONS_STORE_KIND_UNSPECIFIED
	kindHash  = pb.CollectionsStoreKind_COLLECTIONS_STORE_KIND_HASH
	kindSet   = pb.CollectionsStoreKind_COLLECTIONS_STORE_KIND_SET
	kindQueue = pb.CollectionsStoreKind_COLLECTIONS_STORE_KIND_QUEUE
)

// Defaults filled into a store's configuration at creation.
const (
	DefaultHashMaxValueSize       = 1 << 20
	DefaultSetMaxMemberSize       = 64 << 10
	DefaultQueueVisibilityMs      = 30_000
	DefaultQueueMaxMessageSize    = 256 << 10
	DefaultQueueDedupeWindowMs    = 300_000
	defaultPageSize, maxPageSize  = 100, 1000
	defaultScanCount, maxScanHint = 100, 10_000
)

// store is one named store: a hash store, a set store or a queue.
type store struct {
	name      string
	kind      pb.CollectionsStoreKind
	cfg       *pb.CollectionsStoreConfig // defaults filled; never mutated
	createdAt int64
	gen       uint64
	bytes     int64 // keys, fields, values, members and payloads

	hashes map[string]*hash
	sets   map[string]*set
	q      *queue
	cow    *cow // the machine's (cow.go)
}

func (s *store) keys() int64 {
	switch s.kind {
	case kindHash:
		return int64(len(s.hashes))
	case kindSet:
		return int64(len(s.sets))
	}
	return int64(len(s.q.msgs))
}

func (s *store) info() *pb.CollectionsStoreInfo {
	return &pb.CollectionsStoreInfo{Config: s.cfg, Kind: s.kind, Keys: s.keys(), Bytes: s.bytes, CreatedAtMs: s.createdAt}
}

// maxBytes is the store's size bound, 0 for none.
func (s *store) maxBytes() int64 {
	switch s.kind {
	case kindHash:
		return s.cfg.GetHash().GetMaxBytes()
	case kindSet:
		return s.cfg.GetSet().GetMaxBytes()
	}
	return 0
}

// fits reports whether growing the store by delta bytes stays in bounds.
func (s *store) fits(delta int64) bool {
	mb := s.maxBytes()
	return mb == 0 || delta <= 0 || s.bytes+delta <= mb
}

// KindOf answers the kind a configuration asks for.
func KindOf(cfg *pb.CollectionsStoreConfig) pb.CollectionsStoreKind {
	switch cfg.GetKind().(type) {
	case *pb.CollectionsStoreConfig_Hash:
		return kindHash
	case *pb.CollectionsStoreConfig_Set:
		return kindSet
	case *pb.CollectionsStoreConfig_Queue:
		return kindQueue
	}
	return kindAny
}

// withDefaults returns a copy of cfg with zero fields at their defaults.
func withDefaults(cfg *pb.CollectionsStoreConfig) *pb.CollectionsStoreConfig {
	c := proto.Clone(cfg).(*pb.CollectionsStoreConfig)
	switch k := c.GetKind().(type) {
	case *pb.CollectionsStoreConfig_Hash:
		if k.Hash == nil {
			k.Hash = &pb.HashStoreConfig{}
		}
		if k.Hash.MaxValueSize == 0 {
			k.Hash.MaxValueSize = DefaultHashMaxValueSize
		}
	case *pb.CollectionsStoreConfig_Set:
		if k.Set == nil {
			k.Set = &pb.SetStoreConfig{}
		}
		if k.Set.MaxMemberSize == 0 {
			k.Set.MaxMemberSize = DefaultSetMaxMemberSize
		}
	case *pb.CollectionsStoreConfig_Queue:
		if k.Queue == nil {
			k.Queue = &pb.QueueConfig{}
		}
		q := k.Queue
		if q.VisibilityTimeoutMs == 0 {
			q.VisibilityTimeoutMs = DefaultQueueVisibilityMs
		}
		if q.MaxMessageSize == 0 {
			q.MaxMessageSize = DefaultQueueMaxMessageSize
		}
		if q.DedupeWindowMs == 0 {
			q.DedupeWindowMs = DefaultQueueDedupeWindowMs
		}
	}
	return c
}

// CheckConfig checks a store configuration: the invalid_argument Result
// naming the field it breaks, or nil.
// The API layer answers it as invalid_argument before proposing; apply checks
// again so that a replayed log can never install a nonsensical store.
func CheckConfig(cfg *pb.CollectionsStoreConfig) *commonpb.Result {
	switch k := cfg.GetKind().(type) {
	case *pb.CollectionsStoreConfig_Hash:
		if k.Hash.GetMaxValueSize() < 0 {
			return result.Invalid("config.hash.max_value_size", "must not be negative")
		}
		if k.Hash.GetMaxBytes() < 0 {
			return result.Invalid("config.hash.max_bytes", "must not be negative")
		}
	case *pb.CollectionsStoreConfig_Set:
		if k.Set.GetMaxMemberSize() < 0 {
			return result.Invalid("config.set.max_member_size", "must not be negative")
		}
		if k.Set.GetMaxBytes() < 0 {
			return result.Invalid("config.set.max_bytes", "must not be negative")
		}
	case *pb.CollectionsStoreConfig_Queue:
		q := k.Queue
		for _, f := range []struct {
			name string
			v    int64
		}{
			{"config.queue.visibility_timeout_ms", q.GetVisibilityTimeoutMs()},
			{"config.queue.max_receive_count", int64(q.GetMaxReceiveCount())},
			{"config.queue.delay_ms", q.GetDelayMs()},
			{"config.queue.max_message_size", q.GetMaxMessageSize()},
			{"config.queue.retention_ms", q.GetRetentionMs()},
			{"config.queue.dedupe_window_ms", q.GetDedupeWindowMs()},
			{"config.queue.max_messages", q.GetMaxMessages()},
		} {
			if f.v < 0 {
				return result.Invalid(f.name, "must not be negative")
			}
		}
		for _, f := range []struct {
			name string
			v    int64
		}{
			{"config.queue.visibility_timeout_ms", q.GetVisibilityTimeoutMs()},
			{"config.queue.delay_ms", q.GetDelayMs()},
			{"config.queue.retention_ms", q.GetRetentionMs()},
			{"config.queue.dedupe_window_ms", q.GetDedupeWindowMs()},
		} {
			if rule := msec.Check(f.v); rule != "" {
				return result.Invalid(f.name, rule)
			}
		}
		if q.GetDeadLetterQueue() != "" && q.GetDeadLetterQueue() == cfg.GetName() {
			return result.Invalid("config.queue.dead_letter_queue", "must name another queue")
		}
	default:
		return result.Invalid("config.kind", "one of hash, set or queue is required")
	}
	return nil
}

func (m *Machine) createStore(req *pb.CollectionsServiceCreateStoreRequest, at int64) *pb.CollectionsServiceCreateStoreResponse {
	cfg := req.GetConfig()
	if r := CheckConfig(cfg); r != nil {
		return &pb.CollectionsServiceCreateStoreResponse{Result: r}
	}
	cfg = withDefaults(cfg)
	if s := m.stores[cfg.GetName()]; s != nil {
		if proto.Equal(s.cfg, cfg) {
			return &pb.CollectionsServiceCreateStoreResponse{Result: result.OK(), Info: s.info()}
		}
		return &pb.CollectionsServiceCreateStoreResponse{Result: result.Failf(result.CodeExists, "store %q exists with another configuration", cfg.GetName()), Info: s.info()}
	}
	kind := KindOf(cfg)
	if kind == kindQueue {
		if dlq := cfg.GetQueue().GetDeadLetterQueue(); dlq != "" {
			d := m.stores[dlq]
			if d == nil {
				return &pb.CollectionsServiceCreateStoreResponse{Result: result.Failf(result.CodeNotFound, "config.queue.dead_letter_queue: queue %q does not exist", dlq)}
			}
			if d.kind != kindQueue {
				return &pb.CollectionsServiceCreateStoreResponse{Result: result.Failf(result.CodeConflict, "config.queue.dead_letter_queue: store %q is not a queue", dlq)}
			}
			d.q.dlqRefs++
		}
	}
	m.gen++
	s := &store{name: cfg.GetName(), kind: kind, cfg: cfg, createdAt: at, gen: m.gen, cow: m.cow}
	switch kind {
	case kindHash:
		s.hashes = map[string]*hash{}
	case kindSet:
		s.sets = map[string]*set{}
	case kindQueue:
		s.q = newQueue(cfg.GetQueue().GetRetentionMs())
	}
	m.stores[s.name] = s
	return &pb.CollectionsServiceCreateStoreResponse{Result: result.OK(), Info: s.info()}
}

// lookup finds a store of the wanted kind (kindAny: any).
func (m *Machine) lookup(name string, kind pb.CollectionsStoreKind) (*store, *commonpb.Result) {
	s := m.stores[name]
	if s == nil {
		return nil, notFoundStore(name)
	}
	if kind != kindAny && s.kind != kind {
		return nil, result.Failf(result.CodeConflict, "store %q is a %s store, not a %s store", name, kindName(s.kind), kindName(kind))
	}
	return s, nil
}

func kindName(k pb.CollectionsStoreKind) string {
	switch k {
	case kindHash:
		return "hash"
	case kindSet:
		return "set"
	case kindQueue:
		return "queue"
	}
	return "unknown"
}

func (m *Machine) deleteStore(req *pb.CollectionsServiceDeleteStoreRequest) *pb.CollectionsServiceDeleteStoreResponse {
	s, r := m.lookup(req.GetStore(), req.GetKind())
	if r != nil {
		return &pb.CollectionsServiceDeleteStoreResponse{Result: r}
	}
	if s.q != nil && s.q.dlqRefs > 0 {
		return &pb.CollectionsServiceDeleteStoreResponse{Result: result.Failf(result.CodeConflict, "queue %q is the dead-letter queue of %d other queue(s)", s.name, s.q.dlqRefs)}
	}
	if s.q != nil {
		if dlq := s.cfg.GetQueue().GetDeadLetterQueue(); dlq != "" {
			if d := m.stores[dlq]; d != nil && d.q != nil {
				d.q.dlqRefs--
			}
		}
	}
	delete(m.stores, s.name)
	if s.q != nil {
		m.notify.Fire(s.name) // blocked pops answer not_found
	}
	return &pb.CollectionsServiceDeleteStoreResponse{Result: result.OK()}
}

// GetStore answers a store's configuration and status.
func (m *Machine) GetStore(req *pb.CollectionsServiceGetStoreRequest) *pb.CollectionsServiceGetStoreResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, r := m.lookup(req.GetStore(), req.GetKind())
	if r != nil {
		return &pb.CollectionsServiceGetStoreResponse{Result: r}
	}
	return &pb.CollectionsServiceGetStoreResponse{Result: result.OK(), Info: s.info()}
}

// ListStores pages through stores in name order.
func (m *Machine) ListStores(req *pb.CollectionsServiceListStoresRequest) *pb.CollectionsServiceListStoresResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	size := int(req.GetPageSize())
	if size <= 0 {
		size = defaultPageSize
	}
	size = min(size, maxPageSize)
	names := make([]string, 0, len(m.stores))
	for name, s := range m.stores {
		if name > req.GetPageToken() && (req.GetKind() == kindAny || s.kind == req.GetKind()) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	resp := &pb.CollectionsServiceListStoresResponse{Result: result.OK()}
	if len(names) > size {
		names = names[:size]
		resp.NextPageToken = names[size-1]
	}
	for _, name := range names {
		resp.Stores = append(resp.Stores, m.stores[name].info())
	}
	return resp
}

// ScanKeys pages through the keys of a hash or set store.
func (m *Machine) ScanKeys(req *pb.CollectionsServiceScanKeysRequest, now int64) *pb.CollectionsServiceScanKeysResponse {
	sc, r := newScan(req.GetCursor(), req.GetMatch(), req.GetCount())
	if r != nil {
		return &pb.CollectionsServiceScanKeysResponse{Result: r}
	}
	items, more, r := m.collectKeys(req.GetStore(), now, sc)
	if r != nil {
		return &pb.CollectionsServiceScanKeysResponse{Result: r}
	}
	page, next := sc.finish(items, more)
	keys := make([]string, len(page))
	for i, it := range page {
		keys[i] = it.name
	}
	return &pb.CollectionsServiceScanKeysResponse{Result: result.OK(), Keys: keys, Cursor: next}
}

// collectKeys is ScanKeys' part under the lock.
func (m *Machine) collectKeys(store string, now int64, sc *scan) ([]scanItem, bool, *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, r := m.lookup(store, kindAny)
	if r == nil && s.kind == kindQueue {
		r = result.Failf(result.CodeConflict, "store %q is a queue, which has no keys", s.name)
	}
	if r != nil {
		return nil, false, r
	}
	items, more := sc.collect(func(yield func(scanItem) bool) {
		if s.kind == kindHash {
			for k, h := range s.hashes {
				if h.live(now) && !yield(scanItem{name: k}) {
					return
				}
			}
			return
		}
		for k := range s.sets {
			if !yield(scanItem{name: k}) {
				return
			}
		}
	})
	return items, more, nil
}

func (m *Machine) deleteKeys(req *pb.CollectionsServiceDeleteKeysRequest, at int64) *pb.CollectionsServiceDeleteKeysResponse {
	s, r := m.lookup(req.GetStore(), kindAny)
	if r == nil && s.kind == kindQueue {
		r = result.Failf(result.CodeConflict, "store %q is a queue, which has no keys", s.name)
	}
	if r != nil {
		return &pb.CollectionsServiceDeleteKeysResponse{Result: r}
	}
	var removed int64
	for _, k := range req.GetKeys() {
		if s.kind == kindHash {
			if h := s.hashes[k]; h != nil {
				if h.live(at) {
					removed++
				}
				s.dropHash(k, h)
			}
		} else if st := s.sets[k]; st != nil {
			s.dropSet(k, st)
			removed++
		}
	}
	return &pb.CollectionsServiceDeleteKeysResponse{Result: result.OK(), Removed: removed}
}

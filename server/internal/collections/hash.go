package collections

import (
	"container/heap"
	"math"
	"sort"
	"strconv"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// hash is one key of a hash store.
type hash struct {
	fields map[string]hval
	ttls   int    // fields with an expiry; 0 lets reads skip liveness checks
	gen    uint64 // the cow generation it was made in (cow.go)
}

// hval is a field's value and its expiry (epoch ms, 0 for none). A field
// whose expiry has passed is gone for every command, even before the tick
// that removes it.
type hval struct {
	v   []byte
	exp int64
}

func (v hval) alive(now int64) bool { return v.exp == 0 || v.exp > now }

func (h *hash) get(field string, now int64) (hval, bool) {
	v, ok := h.fields[field]
	if !ok || (h.ttls > 0 && !v.alive(now)) {
		return hval{}, false
	}
	return v, true
}

// live reports whether any field is alive.
func (h *hash) live(now int64) bool {
	if h.ttls == 0 {
		return len(h.fields) > 0
	}
	for _, v := range h.fields {
		if v.alive(now) {
			return true
		}
	}
	return false
}

// count is the number of live fields.
func (h *hash) count(now int64) int64 {
	if h.ttls == 0 {
		return int64(len(h.fields))
	}
	var n int64
	for _, v := range h.fields {
		if v.alive(now) {
			n++
		}
	}
	return n
}

func fieldCost(field string, v []byte) int64 { return int64(len(field) + len(v)) }

// hashFor returns the hash at key, creating it when create is set.
// Created is for changing: a hash a snapshot writer reads is copied first.
func (s *store) hashFor(key string, create bool) *hash {
	h := s.hashes[key]
	if create {
		h = s.writeHash(key)
	}
	if h == nil && create {
		h = &hash{fields: map[string]hval{}, gen: s.cow.gen}
		s.hashes[key] = h
		s.bytes += int64(len(key))
	}
	return h
}

func (s *store) dropHash(key string, h *hash) {
	s.bytes -= int64(len(key))
	for f, v := range h.fields {
		s.bytes -= fieldCost(f, v.v)
	}
	delete(s.hashes, key)
}

// delField removes a field (alive or not) and the key when it empties.
func (s *store) delField(key string, h *hash, field string) {
	v, ok := h.fields[field]
	if !ok {
		return
	}
	s.bytes -= fieldCost(field, v.v)
	if v.exp != 0 {
		h.ttls--
	}
	delete(h.fields, field)
	if len(h.fields) == 0 {
		s.dropHash(key, h)
	}
}

// putField sets a field's value, keeping exp; it reports whether the field
// was new (missing or expired).
func (s *store) putField(h *hash, field string, v []byte, exp int64, now int64) bool {
	old, existed := h.fields[field]
	if existed {
		s.bytes -= fieldCost(field, old.v)
		if old.exp != 0 {
			h.ttls--
		}
	}
	if exp != 0 {
		h.ttls++
	}
	h.fields[field] = hval{v: v, exp: exp}
	s.bytes += fieldCost(field, v)
	return !existed || !old.alive(now)
}

func (s *store) checkValue(field string, v []byte) *commonpb.Result {
	if max := s.cfg.GetHash().GetMaxValueSize(); int64(len(v)) > max {
		return result.Failf(result.CodeLimitExceeded, "value of field %q is %d bytes, the store's max_value_size is %d", field, len(v), max)
	}
	return nil
}

func (m *Machine) hset(req *pb.CollectionsServiceHSetRequest, at int64) *pb.CollectionsServiceHSetResponse {
	s, r := m.lookup(req.GetStore(), kindHash)
	if r != nil {
		return &pb.CollectionsServiceHSetResponse{Result: r}
	}
	h := s.hashes[req.GetKey()]
	var delta int64
	if h == nil {
		delta += int64(len(req.GetKey()))
	}
	for f, v := range req.GetFields() {
		if r := s.checkValue(f, v); r != nil {
			return &pb.CollectionsServiceHSetResponse{Result: r}
		}
		delta += fieldCost(f, v)
		if h != nil {
			if old, ok := h.fields[f]; ok {
				delta -= fieldCost(f, old.v)
			}
		}
	}
	if !s.fits(delta) {
		return &pb.CollectionsServiceHSetResponse{Result: result.Failf(result.CodeLimitExceeded, "store %q would exceed its max_bytes", s.name)}
	}
	h = s.hashFor(req.GetKey(), true)
	var added int64
	for f, v := range req.GetFields() {
		// Overwriting a field clears its TTL, as HSET does in Redis.
		if s.putField(h, f, v, 0, at) {
			added++
		}
	}
	return &pb.CollectionsServiceHSetResponse{Result: result.OK(), Added: added}
}

func (m *Machine) hsetnx(req *pb.CollectionsServiceHSetNXRequest, at int64) *pb.CollectionsServiceHSetNXResponse {
	s, r := m.lookup(req.GetStore(), kindHash)
	if r != nil {
		return &pb.CollectionsServiceHSetNXResponse{Result: r}
	}
	if h := s.hashes[req.GetKey()]; h != nil {
		if _, found := h.get(req.GetField(), at); found {
			return &pb.CollectionsServiceHSetNXResponse{Result: result.OK()}
		}
	}
	if r := s.checkValue(req.GetField(), req.GetValue()); r != nil {
		return &pb.CollectionsServiceHSetNXResponse{Result: r}
	}
	if !s.fits(int64(len(req.GetKey())) + fieldCost(req.GetField(), req.GetValue())) {
		return &pb.CollectionsServiceHSetNXResponse{Result: result.Failf(result.CodeLimitExceeded, "store %q would exceed its max_bytes", s.name)}
	}
	s.putField(s.hashFor(req.GetKey(), true), req.GetField(), req.GetValue(), 0, at)
	return &pb.CollectionsServiceHSetNXResponse{Result: result.OK(), Set: true}
}

func (m *Machine) hdel(req *pb.CollectionsServiceHDelRequest, at int64) *pb.CollectionsServiceHDelResponse {
	s, r := m.lookup(req.GetStore(), kindHash)
	if r != nil {
		return &pb.CollectionsServiceHDelResponse{Result: r}
	}
	var removed int64
	for _, f := range req.GetFields() {
		h := s.writeHash(req.GetKey())
		if h == nil {
			break
		}
		if _, alive := h.get(f, at); alive {
			removed++
		}
		s.delField(req.GetKey(), h, f)
	}
	return &pb.CollectionsServiceHDelResponse{Result: result.OK(), Removed: removed}
}

func (m *Machine) hincrby(req *pb.CollectionsServiceHIncrByRequest, at int64) *pb.CollectionsServiceHIncrByResponse {
	s, r := m.lookup(req.GetStore(), kindHash)
	if r != nil {
		return &pb.CollectionsServiceHIncrByResponse{Result: r}
	}
	var cur int64
	var exp int64
	h := s.hashes[req.GetKey()]
	if h != nil {
		if v, ok := h.get(req.GetField(), at); ok {
			n, ok := parseRedisInt(v.v)
			if !ok {
				return &pb.CollectionsServiceHIncrByResponse{Result: result.Failf(result.CodeConflict, "field %q: hash value is not an integer", req.GetField())}
			}
			cur, exp = n, v.exp
		}
	}
	d := req.GetDelta()
	if (d > 0 && cur > math.MaxInt64-d) || (d < 0 && cur < math.MinInt64-d) {
		return &pb.CollectionsServiceHIncrByResponse{Result: result.Failf(result.CodeConflict, "field %q: increment or decrement would overflow", req.GetField())}
	}
	next := cur + d
	v := strconv.AppendInt(nil, next, 10)
	if r := m.putNumber(s, h, req.GetKey(), req.GetField(), v, exp, at); r != nil {
		return &pb.CollectionsServiceHIncrByResponse{Result: r}
	}
	return &pb.CollectionsServiceHIncrByResponse{Result: result.OK(), Value: next}
}

func (m *Machine) hincrbyfloat(req *pb.CollectionsServiceHIncrByFloatRequest, at int64) *pb.CollectionsServiceHIncrByFloatResponse {
	s, r := m.lookup(req.GetStore(), kindHash)
	if r != nil {
		return &pb.CollectionsServiceHIncrByFloatResponse{Result: r}
	}
	d := req.GetDelta()
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return &pb.CollectionsServiceHIncrByFloatResponse{Result: result.Failf(result.CodeInvalidArgument, "delta: must be a finite number")}
	}
	var cur float64
	var exp int64
	h := s.hashes[req.GetKey()]
	if h != nil {
		if v, ok := h.get(req.GetField(), at); ok {
			n, ok := parseRedisFloat(v.v)
			if !ok {
				return &pb.CollectionsServiceHIncrByFloatResponse{Result: result.Failf(result.CodeConflict, "field %q: hash value is not a float", req.GetField())}
			}
			cur, exp = n, v.exp
		}
	}
	next := cur + d
	if math.IsNaN(next) || math.IsInf(next, 0) {
		return &pb.CollectionsServiceHIncrByFloatResponse{Result: result.Failf(result.CodeConflict, "field %q: increment would produce NaN or Infinity", req.GetField())}
	}
	v := strconv.AppendFloat(nil, next, 'f', -1, 64)
	if r := m.putNumber(s, h, req.GetKey(), req.GetField(), v, exp, at); r != nil {
		return &pb.CollectionsServiceHIncrByFloatResponse{Result: r}
	}
	return &pb.CollectionsServiceHIncrByFloatResponse{Result: result.OK(), Value: next}
}

// putNumber stores an incremented value, keeping the field's TTL (as
// HINCRBY does in Redis).
func (m *Machine) putNumber(s *store, h *hash, key, field string, v []byte, exp, at int64) *commonpb.Result {
	if r := s.checkValue(field, v); r != nil {
		return r
	}
	delta := fieldCost(field, v)
	if h == nil {
		delta += int64(len(key))
	} else if old, ok := h.fields[field]; ok {
		delta -= fieldCost(field, old.v)
	}
	if !s.fits(delta) {
		return result.Failf(result.CodeLimitExceeded, "store %q would exceed its max_bytes", s.name)
	}
	s.putField(s.hashFor(key, true), field, v, exp, at)
	return nil
}

func (m *Machine) hexpire(req *pb.CollectionsServiceHExpireRequest, at int64) *pb.CollectionsServiceHExpireResponse {
	s, r := m.lookup(req.GetStore(), kindHash)
	if r != nil {
		return &pb.CollectionsServiceHExpireResponse{Result: r}
	}
	ttl := req.GetTtlMs()
	if ttl < 0 {
		return &pb.CollectionsServiceHExpireResponse{Result: result.Failf(result.CodeInvalidArgument, "ttl_ms: must not be negative")}
	}
	if rule := msec.Check(ttl); rule != "" {
		return &pb.CollectionsServiceHExpireResponse{Result: result.Failf(result.CodeInvalidArgument, "ttl_ms: %s", rule)}
	}
	newExp := msec.Add(at, ttl)
	out := make([]pb.HashExpireOutcome, len(req.GetFields()))
	for i, f := range req.GetFields() {
		h := s.writeHash(req.GetKey())
		var cur hval
		var alive bool
		if h != nil {
			cur, alive = h.get(f, at)
		}
		if !alive {
			out[i] = pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_NO_FIELD
			continue
		}
		met := true
		switch req.GetCondition() {
		case pb.HashExpireCondition_HASH_EXPIRE_CONDITION_NX:
			met = cur.exp == 0
		case pb.HashExpireCondition_HASH_EXPIRE_CONDITION_XX:
			met = cur.exp != 0
		case pb.HashExpireCondition_HASH_EXPIRE_CONDITION_GT:
			met = cur.exp != 0 && newExp > cur.exp // no TTL counts as infinite
		case pb.HashExpireCondition_HASH_EXPIRE_CONDITION_LT:
			met = cur.exp == 0 || newExp < cur.exp
		}
		switch {
		case !met:
			out[i] = pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_CONDITION_NOT_MET
		case ttl == 0:
			s.delField(req.GetKey(), h, f)
			out[i] = pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_DELETED
		default:
			s.putField(h, f, cur.v, newExp, at)
			heap.Push(&m.ttls, ttlEntry{at: newExp, gen: s.gen, store: s.name, key: req.GetKey(), field: f})
			out[i] = pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_SET
		}
	}
	return &pb.CollectionsServiceHExpireResponse{Result: result.OK(), Outcomes: out}
}

func (m *Machine) hpersist(req *pb.CollectionsServiceHPersistRequest, at int64) *pb.CollectionsServiceHPersistResponse {
	s, r := m.lookup(req.GetStore(), kindHash)
	if r != nil {
		return &pb.CollectionsServiceHPersistResponse{Result: r}
	}
	out := make([]pb.HashExpireOutcome, len(req.GetFields()))
	h := s.writeHash(req.GetKey())
	for i, f := range req.GetFields() {
		var cur hval
		var alive bool
		if h != nil {
			cur, alive = h.get(f, at)
		}
		switch {
		case !alive:
			out[i] = pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_NO_FIELD
		case cur.exp == 0:
			out[i] = pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_CONDITION_NOT_MET
		default:
			s.putField(h, f, cur.v, 0, at) // the stale heap entry is dropped when due
			out[i] = pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_SET
		}
	}
	return &pb.CollectionsServiceHPersistResponse{Result: result.OK(), Outcomes: out}
}

// expireFields removes fields whose TTL is due as of at.
func (m *Machine) expireFields(at int64) {
	for len(m.ttls) > 0 && m.ttls[0].at <= at {
		e := heap.Pop(&m.ttls).(ttlEntry)
		s := m.stores[e.store]
		if s == nil || s.gen != e.gen || s.kind != kindHash {
			continue
		}
		h := s.hashes[e.key]
		if h == nil {
			continue
		}
		if v, ok := h.fields[e.field]; !ok || v.exp != e.at {
			continue // stale: no copy for it
		}
		h = s.writeHash(e.key)
		if v, ok := h.fields[e.field]; ok && v.exp == e.at {
			s.delField(e.key, h, e.field)
		}
	}
}

// ttlEntry is one hash field expiry; it is stale once the field's expiry
// differs from at.
type ttlEntry struct {
	at                int64
	gen               uint64
	store, key, field string
}

type ttlHeap []ttlEntry

func (h ttlHeap) Len() int           { return len(h) }
func (h ttlHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h ttlHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ttlHeap) Push(x any)        { *h = append(*h, x.(ttlEntry)) }
func (h *ttlHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = ttlEntry{}
	*h = old[:len(old)-1]
	return x
}

// Reads. Each takes now (the server's clock) only to hide fields whose TTL
// has passed before the tick removed them.

func (m *Machine) readHash(name, key string) (*hash, *commonpb.Result) {
	s, r := m.lookup(name, kindHash)
	if r != nil {
		return nil, r
	}
	return s.hashes[key], nil
}

// HGet reads a field.
func (m *Machine) HGet(req *pb.CollectionsServiceHGetRequest, now int64) *pb.CollectionsServiceHGetResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, r := m.readHash(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceHGetResponse{Result: r}
	}
	if h != nil {
		if v, found := h.get(req.GetField(), now); found {
			return &pb.CollectionsServiceHGetResponse{Result: result.OK(), Value: v.v}
		}
	}
	return &pb.CollectionsServiceHGetResponse{Result: result.Failf(result.CodeNotFound, "field %q of key %q does not exist", req.GetField(), req.GetKey())}
}

// HMGet reads fields in request order.
func (m *Machine) HMGet(req *pb.CollectionsServiceHMGetRequest, now int64) *pb.CollectionsServiceHMGetResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, r := m.readHash(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceHMGetResponse{Result: r}
	}
	out := make([]*pb.HashMaybeValue, len(req.GetFields()))
	size := 0
	for i, f := range req.GetFields() {
		out[i] = &pb.HashMaybeValue{}
		if h != nil {
			if v, ok := h.get(f, now); ok {
				out[i].Found, out[i].Value = true, v.v
				size += len(v.v)
			}
		}
	}
	if size > MaxResponseBytes {
		return &pb.CollectionsServiceHMGetResponse{Result: result.Failf(result.CodeLimitExceeded, "the answer would be %d bytes, past the response limit %d", size, MaxResponseBytes)}
	}
	return &pb.CollectionsServiceHMGetResponse{Result: result.OK(), Values: out}
}

// sortedFields lists a hash's live fields in byte order, refusing answers
// past MaxResponseBytes.
func sortedFields(h *hash, now int64, withValues bool) ([]string, *commonpb.Result) {
	if h == nil {
		return nil, nil
	}
	names := make([]string, 0, len(h.fields))
	size := 0
	for f, v := range h.fields {
		if h.ttls > 0 && !v.alive(now) {
			continue
		}
		names = append(names, f)
		size += len(f)
		if withValues {
			size += len(v.v)
		}
	}
	if size > MaxResponseBytes {
		return nil, result.Failf(result.CodeLimitExceeded, "the answer would be %d bytes, past the response limit %d: scan instead", size, MaxResponseBytes)
	}
	sort.Strings(names)
	return names, nil
}

// HGetAll reads every live field.
func (m *Machine) HGetAll(req *pb.CollectionsServiceHGetAllRequest, now int64) *pb.CollectionsServiceHGetAllResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, r := m.readHash(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceHGetAllResponse{Result: r}
	}
	names, r := sortedFields(h, now, true)
	if r != nil {
		return &pb.CollectionsServiceHGetAllResponse{Result: r}
	}
	out := make(map[string][]byte, len(names))
	for _, f := range names {
		out[f] = h.fields[f].v
	}
	return &pb.CollectionsServiceHGetAllResponse{Result: result.OK(), Fields: out}
}

// HExists tells whether a field is alive.
func (m *Machine) HExists(req *pb.CollectionsServiceHExistsRequest, now int64) *pb.CollectionsServiceHExistsResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, r := m.readHash(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceHExistsResponse{Result: r}
	}
	found := false
	if h != nil {
		_, found = h.get(req.GetField(), now)
	}
	return &pb.CollectionsServiceHExistsResponse{Result: result.OK(), Exists: found}
}

// HLen counts live fields.
func (m *Machine) HLen(req *pb.CollectionsServiceHLenRequest, now int64) *pb.CollectionsServiceHLenResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, r := m.readHash(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceHLenResponse{Result: r}
	}
	var n int64
	if h != nil {
		n = h.count(now)
	}
	return &pb.CollectionsServiceHLenResponse{Result: result.OK(), Length: n}
}

// HKeys lists live field names in byte order.
func (m *Machine) HKeys(req *pb.CollectionsServiceHKeysRequest, now int64) *pb.CollectionsServiceHKeysResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, r := m.readHash(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceHKeysResponse{Result: r}
	}
	names, r := sortedFields(h, now, false)
	if r != nil {
		return &pb.CollectionsServiceHKeysResponse{Result: r}
	}
	return &pb.CollectionsServiceHKeysResponse{Result: result.OK(), Fields: names}
}

// HVals lists live values in the byte order of their fields.
func (m *Machine) HVals(req *pb.CollectionsServiceHValsRequest, now int64) *pb.CollectionsServiceHValsResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, r := m.readHash(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceHValsResponse{Result: r}
	}
	names, r := sortedFields(h, now, true)
	if r != nil {
		return &pb.CollectionsServiceHValsResponse{Result: r}
	}
	vals := make([][]byte, len(names))
	for i, f := range names {
		vals[i] = h.fields[f].v
	}
	return &pb.CollectionsServiceHValsResponse{Result: result.OK(), Values: vals}
}

// HScan pages through live fields in byte order.
func (m *Machine) HScan(req *pb.CollectionsServiceHScanRequest, now int64) *pb.CollectionsServiceHScanResponse {
	sc, r := newScan(req.GetCursor(), req.GetMatch(), req.GetCount())
	if r != nil {
		return &pb.CollectionsServiceHScanResponse{Result: r}
	}
	items, more, r := m.collectHash(req.GetStore(), req.GetKey(), now, sc)
	if r != nil {
		return &pb.CollectionsServiceHScanResponse{Result: r}
	}
	page, next := sc.finish(items, more)
	out := make([]*pb.HashField, len(page))
	for i, it := range page {
		out[i] = &pb.HashField{Field: it.name, Value: it.val}
	}
	return &pb.CollectionsServiceHScanResponse{Result: result.OK(), Fields: out, Cursor: next}
}

// collectHash is HScan's part under the lock.
func (m *Machine) collectHash(store, key string, now int64, sc *scan) ([]scanItem, bool, *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, r := m.readHash(store, key)
	if r != nil || h == nil {
		return nil, false, r
	}
	items, more := sc.collect(func(yield func(scanItem) bool) {
		for f, v := range h.fields {
			if (h.ttls == 0 || v.alive(now)) && !yield(scanItem{name: f, val: v.v}) {
				return
			}
		}
	})
	return items, more, nil
}

// HTTL answers remaining TTLs: ms left, -1 for no TTL, -2 for no field.
func (m *Machine) HTTL(req *pb.CollectionsServiceHTTLRequest, now int64) *pb.CollectionsServiceHTTLResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, r := m.readHash(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceHTTLResponse{Result: r}
	}
	out := make([]int64, len(req.GetFields()))
	for i, f := range req.GetFields() {
		out[i] = -2
		if h == nil {
			continue
		}
		if v, ok := h.get(f, now); ok {
			out[i] = -1
			if v.exp != 0 {
				out[i] = v.exp - now
			}
		}
	}
	return &pb.CollectionsServiceHTTLResponse{Result: result.OK(), TtlMs: out}
}

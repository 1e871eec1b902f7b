package collections

import (
	"math/rand/v2"
	"sort"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// set is one key of a set store. Members live in a dense slice with an index
// map, so a random member is one draw and a removal is a swap: SPOP and
// SRANDMEMBER cost O(count), and the slice order, which SPOP's draws depend
// on, is a function of the commands applied (and is kept by snapshots).
type set struct {
	idx  map[string]int
	list []string
	gen  uint64 // the cow generation it was made in (cow.go)
}

func newSet(gen uint64) *set { return &set{idx: map[string]int{}, gen: gen} }

func (st *set) has(m string) bool { _, ok := st.idx[m]; return ok }

func (st *set) add(m string) bool {
	if _, ok := st.idx[m]; ok {
		return false
	}
	st.idx[m] = len(st.list)
	st.list = append(st.list, m)
	return true
}

func (st *set) remove(m string) bool {
	i, ok := st.idx[m]
	if !ok {
		return false
	}
	last := len(st.list) - 1
	if i != last {
		st.list[i] = st.list[last]
		st.idx[st.list[i]] = i
	}
	st.list[last] = ""
	st.list = st.list[:last]
	delete(st.idx, m)
	return true
}

func (s *store) setFor(key string, create bool) *set {
	st := s.sets[key]
	if create {
		st = s.writeSet(key)
	}
	if st == nil && create {
		st = newSet(s.cow.gen)
		s.sets[key] = st
		s.bytes += int64(len(key))
	}
	return st
}

func (s *store) dropSet(key string, st *set) {
	s.bytes -= int64(len(key))
	for _, m := range st.list {
		s.bytes -= int64(len(m))
	}
	delete(s.sets, key)
}

func (s *store) setAdd(key string, st *set, m string) bool {
	if st.add(m) {
		s.bytes += int64(len(m))
		return true
	}
	return false
}

// setRem removes m, dropping the key when it empties.
func (s *store) setRem(key string, st *set, m string) bool {
	if !st.remove(m) {
		return false
	}
	s.bytes -= int64(len(m))
	if len(st.list) == 0 {
		s.dropSet(key, st)
	}
	return true
}

func (m *Machine) sadd(req *pb.CollectionsServiceSAddRequest) *pb.CollectionsServiceSAddResponse {
	s, r := m.lookup(req.GetStore(), kindSet)
	if r != nil {
		return &pb.CollectionsServiceSAddResponse{Result: r}
	}
	st := s.sets[req.GetKey()]
	var delta int64
	if st == nil {
		delta += int64(len(req.GetKey()))
	}
	max := s.cfg.GetSet().GetMaxMemberSize()
	for _, mb := range req.GetMembers() {
		if int64(len(mb)) > max {
			return &pb.CollectionsServiceSAddResponse{Result: result.Failf(result.CodeLimitExceeded, "a member is %d bytes, the store's max_member_size is %d", len(mb), max)}
		}
		if st == nil || !st.has(string(mb)) {
			delta += int64(len(mb))
		}
	}
	if !s.fits(delta) {
		return &pb.CollectionsServiceSAddResponse{Result: result.Failf(result.CodeLimitExceeded, "store %q would exceed its max_bytes", s.name)}
	}
	st = s.setFor(req.GetKey(), true)
	var added int64
	for _, mb := range req.GetMembers() {
		if s.setAdd(req.GetKey(), st, string(mb)) {
			added++
		}
	}
	return &pb.CollectionsServiceSAddResponse{Result: result.OK(), Added: added}
}

func (m *Machine) srem(req *pb.CollectionsServiceSRemRequest) *pb.CollectionsServiceSRemResponse {
	s, r := m.lookup(req.GetStore(), kindSet)
	if r != nil {
		return &pb.CollectionsServiceSRemResponse{Result: r}
	}
	var removed int64
	for _, mb := range req.GetMembers() {
		st := s.writeSet(req.GetKey())
		if st == nil {
			break
		}
		if s.setRem(req.GetKey(), st, string(mb)) {
			removed++
		}
	}
	return &pb.CollectionsServiceSRemResponse{Result: result.OK(), Removed: removed}
}

// spop removes random members. The PRNG is seeded from the command's time and
// the number of commands applied so far: the same on every replica and every
// replay, and different from one pop to the next.
func (m *Machine) spop(req *pb.CollectionsServiceSPopRequest, at int64) *pb.CollectionsServiceSPopResponse {
	s, r := m.lookup(req.GetStore(), kindSet)
	if r != nil {
		return &pb.CollectionsServiceSPopResponse{Result: r}
	}
	count := req.GetCount()
	if count < 0 {
		return &pb.CollectionsServiceSPopResponse{Result: result.Failf(result.CodeInvalidArgument, "count: must not be negative")}
	}
	if count == 0 {
		count = 1
	}
	st := s.writeSet(req.GetKey())
	if st == nil {
		return &pb.CollectionsServiceSPopResponse{Result: result.OK()}
	}
	rng := rand.New(rand.NewPCG(uint64(at), m.applied))
	n := min(count, int64(len(st.list)))
	out := make([][]byte, 0, n)
	for range n {
		mb := st.list[rng.IntN(len(st.list))]
		out = append(out, []byte(mb))
		s.setRem(req.GetKey(), st, mb)
	}
	return &pb.CollectionsServiceSPopResponse{Result: result.OK(), Members: out}
}

func (m *Machine) smove(req *pb.CollectionsServiceSMoveRequest) *pb.CollectionsServiceSMoveResponse {
	s, r := m.lookup(req.GetStore(), kindSet)
	if r != nil {
		return &pb.CollectionsServiceSMoveResponse{Result: r}
	}
	mb := string(req.GetMember())
	src := s.sets[req.GetSource()]
	if src == nil || !src.has(mb) {
		return &pb.CollectionsServiceSMoveResponse{Result: result.OK()}
	}
	if req.GetSource() == req.GetDestination() {
		return &pb.CollectionsServiceSMoveResponse{Result: result.OK(), Moved: true}
	}
	dst := s.sets[req.GetDestination()]
	if dst == nil && !s.fits(int64(len(req.GetDestination()))) {
		return &pb.CollectionsServiceSMoveResponse{Result: result.Failf(result.CodeLimitExceeded, "store %q would exceed its max_bytes", s.name)}
	}
	s.setRem(req.GetSource(), s.writeSet(req.GetSource()), mb)
	s.setAdd(req.GetDestination(), s.setFor(req.GetDestination(), true), mb)
	return &pb.CollectionsServiceSMoveResponse{Result: result.OK(), Moved: true}
}

type algebra int

const (
	inter algebra = iota
	union
	diff
)

// setAlgebra computes SINTER, SUNION or SDIFF over keys (missing keys are
// empty sets), in byte order. With a destination it replaces that key with
// the result (deleting it when the result is empty), which only apply may
// do; reads pass "".
func (m *Machine) setAlgebra(name string, keys []string, op algebra, dest string) ([]string, *commonpb.Result) {
	s, r := m.lookup(name, kindSet)
	if r != nil {
		return nil, r
	}
	if len(keys) == 0 {
		return nil, result.Failf(result.CodeInvalidArgument, "keys: at least one is required")
	}
	var out []string
	switch op {
	case inter:
		sets := make([]*set, len(keys))
		for i, k := range keys {
			if sets[i] = s.sets[k]; sets[i] == nil {
				sets = nil
				break
			}
		}
		if sets != nil {
			sort.Slice(sets, func(i, j int) bool { return len(sets[i].list) < len(sets[j].list) })
		next:
			for _, mb := range sets[0].list {
				for _, o := range sets[1:] {
					if !o.has(mb) {
						continue next
					}
				}
				out = append(out, mb)
			}
		}
	case union:
		seen := map[string]struct{}{}
		for _, k := range keys {
			if st := s.sets[k]; st != nil {
				for _, mb := range st.list {
					if _, dup := seen[mb]; !dup {
						seen[mb] = struct{}{}
						out = append(out, mb)
					}
				}
			}
		}
	case diff:
		if first := s.sets[keys[0]]; first != nil {
		outer:
			for _, mb := range first.list {
				for _, k := range keys[1:] {
					if o := s.sets[k]; o != nil && o.has(mb) {
						continue outer
					}
				}
				out = append(out, mb)
			}
		}
	}
	sort.Strings(out)
	if dest == "" {
		size := 0
		for _, mb := range out {
			size += len(mb)
		}
		if size > MaxResponseBytes {
			return nil, result.Failf(result.CodeLimitExceeded, "the answer would be %d bytes, past the response limit %d: store it to a destination instead", size, MaxResponseBytes)
		}
		return out, result.OK()
	}
	var delta int64
	if len(out) > 0 {
		delta = int64(len(dest))
		for _, mb := range out {
			delta += int64(len(mb))
		}
	}
	if old := s.sets[dest]; old != nil {
		delta -= int64(len(dest))
		for _, mb := range old.list {
			delta -= int64(len(mb))
		}
	}
	if !s.fits(delta) {
		return nil, result.Failf(result.CodeLimitExceeded, "store %q would exceed its max_bytes", s.name)
	}
	if old := s.sets[dest]; old != nil {
		s.dropSet(dest, old)
	}
	if len(out) > 0 {
		st := s.setFor(dest, true)
		for _, mb := range out {
			s.setAdd(dest, st, mb)
		}
	}
	return out, result.OK()
}

// Reads.

func (m *Machine) readSet(name, key string) (*set, *commonpb.Result) {
	s, r := m.lookup(name, kindSet)
	if r != nil {
		return nil, r
	}
	return s.sets[key], nil
}

// SIsMember tests one member.
func (m *Machine) SIsMember(req *pb.CollectionsServiceSIsMemberRequest) *pb.CollectionsServiceSIsMemberResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, r := m.readSet(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceSIsMemberResponse{Result: r}
	}
	return &pb.CollectionsServiceSIsMemberResponse{Result: result.OK(), IsMember: st != nil && st.has(string(req.GetMember()))}
}

// SMIsMember tests members in order.
func (m *Machine) SMIsMember(req *pb.CollectionsServiceSMIsMemberRequest) *pb.CollectionsServiceSMIsMemberResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, r := m.readSet(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceSMIsMemberResponse{Result: r}
	}
	out := make([]bool, len(req.GetMembers()))
	if st != nil {
		for i, mb := range req.GetMembers() {
			out[i] = st.has(string(mb))
		}
	}
	return &pb.CollectionsServiceSMIsMemberResponse{Result: result.OK(), IsMember: out}
}

func toBytes(ms []string) [][]byte {
	out := make([][]byte, len(ms))
	for i, mb := range ms {
		out[i] = []byte(mb)
	}
	return out
}

// SMembers lists a set in byte order.
func (m *Machine) SMembers(req *pb.CollectionsServiceSMembersRequest) *pb.CollectionsServiceSMembersResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, r := m.readSet(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceSMembersResponse{Result: r}
	}
	if st == nil {
		return &pb.CollectionsServiceSMembersResponse{Result: result.OK()}
	}
	size := 0
	for _, mb := range st.list {
		size += len(mb)
	}
	if size > MaxResponseBytes {
		return &pb.CollectionsServiceSMembersResponse{Result: result.Failf(result.CodeLimitExceeded, "the answer would be %d bytes, past the response limit %d: scan instead", size, MaxResponseBytes)}
	}
	ms := append([]string(nil), st.list...)
	sort.Strings(ms)
	return &pb.CollectionsServiceSMembersResponse{Result: result.OK(), Members: toBytes(ms)}
}

// SCard counts a set.
func (m *Machine) SCard(req *pb.CollectionsServiceSCardRequest) *pb.CollectionsServiceSCardResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, r := m.readSet(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceSCardResponse{Result: r}
	}
	var n int64
	if st != nil {
		n = int64(len(st.list))
	}
	return &pb.CollectionsServiceSCardResponse{Result: result.OK(), Cardinality: n}
}

// SRandMember picks members as Redis does: count > 0 answers up to count
// distinct members, count < 0 exactly -count members that may repeat. A read
// changes nothing, so it may draw from an unseeded source.
func (m *Machine) SRandMember(req *pb.CollectionsServiceSRandMemberRequest) *pb.CollectionsServiceSRandMemberResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, r := m.readSet(req.GetStore(), req.GetKey())
	if r != nil {
		return &pb.CollectionsServiceSRandMemberResponse{Result: r}
	}
	if st == nil {
		return &pb.CollectionsServiceSRandMemberResponse{Result: result.OK()}
	}
	count := req.GetCount()
	if count == 0 {
		count = 1
	}
	n := len(st.list)
	var out []string
	switch {
	case count < 0:
		out = make([]string, -count)
		for i := range out {
			out[i] = st.list[rand.IntN(n)]
		}
	case count >= int64(n):
		out = append([]string(nil), st.list...)
		rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	default:
		// Partial Fisher-Yates over indices: count distinct draws.
		idx := make(map[int]int, count)
		out = make([]string, count)
		for i := range int(count) {
			j := i + rand.IntN(n-i)
			vi, ok := idx[i]
			if !ok {
				vi = i
			}
			vj, ok := idx[j]
			if !ok {
				vj = j
			}
			idx[i], idx[j] = vj, vi
			out[i] = st.list[vj]
		}
	}
	return &pb.CollectionsServiceSRandMemberResponse{Result: result.OK(), Members: toBytes(out)}
}

// SAlgebra answers SINTER, SUNION or SDIFF without storing.
func (m *Machine) SAlgebra(name string, keys []string, op string) ([][]byte, *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a := map[string]algebra{"inter": inter, "union": union, "diff": diff}[op]
	out, r := m.setAlgebra(name, keys, a, "")
	if !r.GetSuccess() {
		return nil, r
	}
	return toBytes(out), r
}

// SScan pages through members in byte order.
func (m *Machine) SScan(req *pb.CollectionsServiceSScanRequest) *pb.CollectionsServiceSScanResponse {
	sc, r := newScan(req.GetCursor(), req.GetMatch(), req.GetCount())
	if r != nil {
		return &pb.CollectionsServiceSScanResponse{Result: r}
	}
	items, more, r := m.collectSet(req.GetStore(), req.GetKey(), sc)
	if r != nil {
		return &pb.CollectionsServiceSScanResponse{Result: r}
	}
	page, next := sc.finish(items, more)
	out := make([][]byte, len(page))
	for i, it := range page {
		out[i] = []byte(it.name)
	}
	return &pb.CollectionsServiceSScanResponse{Result: result.OK(), Members: out, Cursor: next}
}

// collectSet is SScan's part under the lock.
func (m *Machine) collectSet(store, key string, sc *scan) ([]scanItem, bool, *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, r := m.readSet(store, key)
	if r != nil || st == nil {
		return nil, false, r
	}
	items, more := sc.collect(func(yield func(scanItem) bool) {
		for _, mb := range st.list {
			if !yield(scanItem{name: mb}) {
				return
			}
		}
	})
	return items, more, nil
}

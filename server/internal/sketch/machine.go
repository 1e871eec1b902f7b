package sketch

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Name is the subsystem's registered name; it is in every log entry and
// snapshot, so it never changes.
const Name = "sketch"

// Ops of the sketch state machine. They are part of the raft log format:
// never renumber one. Each payload is the marshalled request of the RPC of
// the same name, and Apply returns that RPC's response.
const (
	OpCreate       uint16 = 1
	OpDelete       uint16 = 2
	OpBloomAdd     uint16 = 10
	OpBloomMAdd    uint16 = 11
	OpHLLAdd       uint16 = 20
	OpHLLMerge     uint16 = 21
	OpCMSIncrBy    uint16 = 30
	OpCMSMerge     uint16 = 31
	OpTopKAdd      uint16 = 40
	OpTopKIncrBy   uint16 = 41
	OpTDigestAdd   uint16 = 50
	OpTDigestMerge uint16 = 51
	OpTDigestReset uint16 = 52
)

// ErrUnknownOp answers a command with an op this server does not know.
var ErrUnknownOp = errors.New("sketch: unknown op")

// Machine holds every sketch. Apply (through raft) changes it; the
// read methods answer queries from the local state under a read lock.
type Machine struct {
	limits Limits

	mu       sync.RWMutex
	sketches map[string]*entry
	// Snapshot cuts whose writers have not finished (see snapshot.go):
	// cutGen numbers them, live holds the running ones and minLive is the
	// oldest of those, math.MaxUint64 when none runs. An entry with
	// frozen >= minLive may be read by a writer, so apply clones it before
	// changing it.
	cutGen  uint64
	live    map[uint64]struct{}
	minLive uint64
}

// entry is one sketch: its normalised config and exactly one structure.
type entry struct {
	config    *sketchpb.SketchConfig
	kind      sketchpb.SketchKind
	createdAt int64
	bloom     *bloomFilter
	hll       *hyperLogLog
	cms       *countMin
	topk      *topK
	td        *tDigest
	frozen    uint64 // cutGen of the last cut that took it; 0 never
}

// New returns an empty state machine enforcing limits (zero fields take
// their defaults).
func New(limits Limits) *Machine {
	return &Machine{limits: limits.withDefaults(), sketches: map[string]*entry{},
		live: map[uint64]struct{}{}, minLive: math.MaxUint64}
}

// Limits returns the limits in force, defaults applied.
func (s *Machine) Limits() Limits { return s.limits }

func kindOf(cfg *sketchpb.SketchConfig) sketchpb.SketchKind {
	switch cfg.GetKind().(type) {
	case *sketchpb.SketchConfig_Bloom:
		return sketchpb.SketchKind_SKETCH_KIND_BLOOM
	case *sketchpb.SketchConfig_Hll:
		return sketchpb.SketchKind_SKETCH_KIND_HLL
	case *sketchpb.SketchConfig_Cms:
		return sketchpb.SketchKind_SKETCH_KIND_CMS
	case *sketchpb.SketchConfig_Topk:
		return sketchpb.SketchKind_SKETCH_KIND_TOPK
	case *sketchpb.SketchConfig_Tdigest:
		return sketchpb.SketchKind_SKETCH_KIND_TDIGEST
	}
	return sketchpb.SketchKind_SKETCH_KIND_UNSPECIFIED
}

func kindName(k sketchpb.SketchKind) string {
	switch k {
	case sketchpb.SketchKind_SKETCH_KIND_BLOOM:
		return "bloom"
	case sketchpb.SketchKind_SKETCH_KIND_HLL:
		return "hll"
	case sketchpb.SketchKind_SKETCH_KIND_CMS:
		return "cms"
	case sketchpb.SketchKind_SKETCH_KIND_TOPK:
		return "topk"
	case sketchpb.SketchKind_SKETCH_KIND_TDIGEST:
		return "tdigest"
	}
	return k.String()
}

// newEntry builds the empty structure a normalised config describes.
func newEntry(cfg *sketchpb.SketchConfig, atMs int64) *entry {
	e := &entry{config: cfg, kind: kindOf(cfg), createdAt: atMs}
	switch k := cfg.GetKind().(type) {
	case *sketchpb.SketchConfig_Bloom:
		c := k.Bloom
		e.bloom = newBloomFilter(c.GetCapacity(), c.GetErrorRate(), c.GetExpansion(), c.GetNonScaling())
	case *sketchpb.SketchConfig_Hll:
		e.hll = newHLL(uint8(k.Hll.GetPrecision()))
	case *sketchpb.SketchConfig_Cms:
		e.cms = newCMS(k.Cms.GetWidth(), k.Cms.GetDepth())
	case *sketchpb.SketchConfig_Topk:
		c := k.Topk
		e.topk = newTopK(c.GetK(), c.GetWidth(), c.GetDepth(), c.GetDecay())
	case *sketchpb.SketchConfig_Tdigest:
		e.td = newTDigest(k.Tdigest.GetCompression())
	}
	return e
}

func (e *entry) sizeBytes() int64 {
	switch {
	case e.bloom != nil:
		return e.bloom.sizeBytes()
	case e.hll != nil:
		return e.hll.sizeBytes()
	case e.cms != nil:
		return e.cms.sizeBytes()
	case e.topk != nil:
		return e.topk.sizeBytes()
	case e.td != nil:
		return e.td.sizeBytes()
	}
	return 0
}

func (e *entry) info() *sketchpb.SketchInfo {
	in := &sketchpb.SketchInfo{Config: e.config, Kind: e.kind, SizeBytes: e.sizeBytes(), CreatedAtMs: e.createdAt}
	switch {
	case e.bloom != nil:
		in.Stats = &sketchpb.SketchInfo_Bloom{Bloom: &sketchpb.BloomStats{
			Capacity: e.bloom.totalCapacity(), Filters: uint32(len(e.bloom.subs)), ItemsInserted: e.bloom.inserted}}
	case e.hll != nil:
		in.Stats = &sketchpb.SketchInfo_Hll{Hll: &sketchpb.HLLStats{Count: estimate(e.hll)}}
	case e.cms != nil:
		in.Stats = &sketchpb.SketchInfo_Cms{Cms: &sketchpb.CMSStats{Width: e.cms.width, Depth: e.cms.depth, Count: e.cms.total}}
	case e.topk != nil:
		t := e.topk
		in.Stats = &sketchpb.SketchInfo_Topk{Topk: &sketchpb.TopKStats{K: t.k, Width: t.width, Depth: t.depth, Decay: t.decay}}
	case e.td != nil:
		t := e.td
		in.Stats = &sketchpb.SketchInfo_Tdigest{Tdigest: &sketchpb.TDigestStats{
			Compression: t.compression, Centroids: int64(len(t.means)), Observations: t.total, Min: t.minValue(), Max: t.maxValue()}}
	}
	return in
}

// lookup finds a sketch of the wanted kind (any kind when unspecified).
// Callers hold s.mu.
func (s *Machine) lookup(field, name string, kind sketchpb.SketchKind) (*entry, *commonpb.Result) {
	if _, known := sketchpb.SketchKind_name[int32(kind)]; !known {
		return nil, result.Invalidf("kind", "unknown sketch kind %d", kind)
	}
	e, found := s.sketches[name]
	if !found {
		return nil, result.Failf(result.CodeNotFound, "%s: sketch %q does not exist", field, name)
	}
	if kind != sketchpb.SketchKind_SKETCH_KIND_UNSPECIFIED && e.kind != kind {
		return nil, result.Failf(result.CodeConflict, "%s: sketch %q is a %s, not a %s", field, name, kindName(e.kind), kindName(kind))
	}
	return e, nil
}

// lookupW is lookup for a command that changes the sketch: when a running
// snapshot writer may read the entry, it is replaced in the map by a deep
// copy first and the copy is returned. With no snapshot running this costs
// one integer compare. Callers hold s.mu for writing.
func (s *Machine) lookupW(field, name string, kind sketchpb.SketchKind) (*entry, *commonpb.Result) {
	e, r := s.lookup(field, name, kind)
	if r != nil || e.frozen < s.minLive {
		return e, r
	}
	c := e.clone()
	s.sketches[name] = c
	return c, nil
}

var _ fsm.Subsystem = (*Machine)(nil)

// Name implements fsm.Subsystem.
func (s *Machine) Name() string { return Name }

// Tick implements fsm.Subsystem; sketches have nothing that expires.
func (s *Machine) Tick(int64) {}

// NextDeadline implements fsm.Subsystem; nothing is ever due.
func (s *Machine) NextDeadline() int64 { return 0 }

// Apply implements fsm.Subsystem: see apply.
func (s *Machine) Apply(cmd fsm.Command) any { return s.apply(cmd.Op, cmd.AtMs, cmd.Payload) }

// apply applies one committed command: op, the leader's time atMs and the
// marshalled request. It returns the RPC's response, or an error for an
// undecodable payload or unknown op; either way a refused command changes
// nothing. proto.Unmarshal copies bytes fields, so nothing kept aliases the
// log entry.
func (s *Machine) apply(op uint16, atMs int64, payload []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case OpCreate:
		req := &sketchpb.SketchServiceCreateSketchRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.create(req, atMs)
	case OpDelete:
		req := &sketchpb.SketchServiceDeleteSketchRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.delete(req)
	case OpBloomAdd:
		req := &sketchpb.SketchServiceBloomAddRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.bloomAdd(req)
	case OpBloomMAdd:
		req := &sketchpb.SketchServiceBloomMAddRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.bloomMAdd(req)
	case OpHLLAdd:
		req := &sketchpb.SketchServiceHLLAddRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.hllAdd(req)
	case OpHLLMerge:
		req := &sketchpb.SketchServiceHLLMergeRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.hllMerge(req)
	case OpCMSIncrBy:
		req := &sketchpb.SketchServiceCMSIncrByRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.cmsIncrBy(req)
	case OpCMSMerge:
		req := &sketchpb.SketchServiceCMSMergeRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.cmsMerge(req)
	case OpTopKAdd:
		req := &sketchpb.SketchServiceTopKAddRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.topkAdd(req)
	case OpTopKIncrBy:
		req := &sketchpb.SketchServiceTopKIncrByRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.topkIncrBy(req)
	case OpTDigestAdd:
		req := &sketchpb.SketchServiceTDigestAddRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.tdigestAdd(req)
	case OpTDigestMerge:
		req := &sketchpb.SketchServiceTDigestMergeRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.tdigestMerge(req)
	case OpTDigestReset:
		req := &sketchpb.SketchServiceTDigestResetRequest{}
		if err := proto.Unmarshal(payload, req); err != nil {
			return err
		}
		return s.tdigestReset(req)
	}
	return fmt.Errorf("%w %d", ErrUnknownOp, op)
}

// CheckCreate validates a CreateSketch request.
func (s *Machine) CheckCreate(req *sketchpb.SketchServiceCreateSketchRequest) *commonpb.Result {
	_, r := s.limits.normalize(req.GetConfig())
	return r
}

func (s *Machine) create(req *sketchpb.SketchServiceCreateSketchRequest, atMs int64) *sketchpb.SketchServiceCreateSketchResponse {
	cfg, r := s.limits.normalize(req.GetConfig())
	if r != nil {
		return &sketchpb.SketchServiceCreateSketchResponse{Result: r}
	}
	if e, found := s.sketches[cfg.GetName()]; found {
		if proto.Equal(e.config, cfg) {
			return &sketchpb.SketchServiceCreateSketchResponse{Result: result.OK(), Info: e.info()}
		}
		return &sketchpb.SketchServiceCreateSketchResponse{Result: result.Failf(result.CodeExists,
			"config.name: sketch %q exists with a different configuration (%s)", cfg.GetName(), kindName(e.kind))}
	}
	e := newEntry(cfg, atMs)
	s.sketches[cfg.GetName()] = e
	return &sketchpb.SketchServiceCreateSketchResponse{Result: result.OK(), Info: e.info()}
}

// CheckName validates the name of a request that carries nothing else
// (DeleteSketch, TDigestReset).
func (s *Machine) CheckName(name string) *commonpb.Result {
	return s.limits.checkName("name", name)
}

func (s *Machine) delete(req *sketchpb.SketchServiceDeleteSketchRequest) *sketchpb.SketchServiceDeleteSketchResponse {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return &sketchpb.SketchServiceDeleteSketchResponse{Result: r}
	}
	if _, r := s.lookup("name", req.GetName(), req.GetKind()); r != nil {
		return &sketchpb.SketchServiceDeleteSketchResponse{Result: r}
	}
	delete(s.sketches, req.GetName())
	return &sketchpb.SketchServiceDeleteSketchResponse{Result: result.OK()}
}

// CheckBloomAdd validates a BloomAdd request (the API layer calls the
// Check functions before proposing; Apply calls them again).
func (s *Machine) CheckBloomAdd(req *sketchpb.SketchServiceBloomAddRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	return s.limits.checkItem("item", req.GetItem())
}

func (s *Machine) bloomAdd(req *sketchpb.SketchServiceBloomAddRequest) *sketchpb.SketchServiceBloomAddResponse {
	if r := s.CheckBloomAdd(req); r != nil {
		return &sketchpb.SketchServiceBloomAddResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_BLOOM)
	if r != nil {
		return &sketchpb.SketchServiceBloomAddResponse{Result: r}
	}
	items := [][]byte{req.GetItem()}
	if err := e.bloom.fits(items, s.limits.MaxSketchBytes); err != nil {
		return &sketchpb.SketchServiceBloomAddResponse{Result: bloomFull(e)}
	}
	return &sketchpb.SketchServiceBloomAddResponse{Result: result.OK(), Added: e.bloom.add(req.GetItem())}
}

func bloomFull(e *entry) *commonpb.Result {
	if e.bloom.nonScaling {
		return result.Failf(result.CodeLimitExceeded, "name: non-scaling bloom filter %q is at its capacity of %d items; nothing was added",
			e.config.GetName(), e.bloom.capacity)
	}
	return result.Failf(result.CodeLimitExceeded, "name: bloom filter %q cannot grow another sub-filter within the sketch size limit; nothing was added",
		e.config.GetName())
}

// CheckBloomMAdd validates a BloomMAdd request.
func (s *Machine) CheckBloomMAdd(req *sketchpb.SketchServiceBloomMAddRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	return s.limits.checkItems("items", req.GetItems())
}

func (s *Machine) bloomMAdd(req *sketchpb.SketchServiceBloomMAddRequest) *sketchpb.SketchServiceBloomMAddResponse {
	if r := s.CheckBloomMAdd(req); r != nil {
		return &sketchpb.SketchServiceBloomMAddResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_BLOOM)
	if r != nil {
		return &sketchpb.SketchServiceBloomMAddResponse{Result: r}
	}
	if err := e.bloom.fits(req.GetItems(), s.limits.MaxSketchBytes); err != nil {
		return &sketchpb.SketchServiceBloomMAddResponse{Result: bloomFull(e)}
	}
	added := make([]bool, len(req.GetItems()))
	for i, it := range req.GetItems() {
		added[i] = e.bloom.add(it)
	}
	return &sketchpb.SketchServiceBloomMAddResponse{Result: result.OK(), Added: added}
}

// CheckHLLAdd validates an HLLAdd request.
func (s *Machine) CheckHLLAdd(req *sketchpb.SketchServiceHLLAddRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	return s.limits.checkItems("items", req.GetItems())
}

func (s *Machine) hllAdd(req *sketchpb.SketchServiceHLLAddRequest) *sketchpb.SketchServiceHLLAddResponse {
	if r := s.CheckHLLAdd(req); r != nil {
		return &sketchpb.SketchServiceHLLAddResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_HLL)
	if r != nil {
		return &sketchpb.SketchServiceHLLAddResponse{Result: r}
	}
	changed := false
	for _, it := range req.GetItems() {
		if e.hll.add(hash64(it)) {
			changed = true
		}
	}
	return &sketchpb.SketchServiceHLLAddResponse{Result: result.OK(), Changed: changed}
}

// hllSources resolves names to HLLs of precision p. Callers hold s.mu.
func (s *Machine) hllSources(field string, names []string, p uint8) ([]*hyperLogLog, *commonpb.Result) {
	out := make([]*hyperLogLog, 0, len(names))
	for i, n := range names {
		f := fmt.Sprintf("%s[%d]", field, i)
		e, r := s.lookup(f, n, sketchpb.SketchKind_SKETCH_KIND_HLL)
		if r != nil {
			return nil, r
		}
		if e.hll.p != p {
			return nil, result.Failf(result.CodeConflict, "%s: hll %q has precision %d, not %d", f, n, e.hll.p, p)
		}
		out = append(out, e.hll)
	}
	return out, nil
}

// CheckHLLMerge validates an HLLMerge request.
func (s *Machine) CheckHLLMerge(req *sketchpb.SketchServiceHLLMergeRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	return s.limits.checkNames("sources", req.GetSources())
}

func (s *Machine) hllMerge(req *sketchpb.SketchServiceHLLMergeRequest) *sketchpb.SketchServiceHLLMergeResponse {
	if r := s.CheckHLLMerge(req); r != nil {
		return &sketchpb.SketchServiceHLLMergeResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_HLL)
	if r != nil {
		return &sketchpb.SketchServiceHLLMergeResponse{Result: r}
	}
	srcs, r := s.hllSources("sources", req.GetSources(), e.hll.p)
	if r != nil {
		return &sketchpb.SketchServiceHLLMergeResponse{Result: r}
	}
	for _, src := range srcs {
		e.hll.merge(src)
	}
	return &sketchpb.SketchServiceHLLMergeResponse{Result: result.OK(), Count: estimate(e.hll)}
}

// CheckCMSIncrBy validates a CMSIncrBy request.
func (s *Machine) CheckCMSIncrBy(req *sketchpb.SketchServiceCMSIncrByRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	return s.limits.checkIncrements(req.GetIncrements())
}

// sumIncrements adds positive increments, or reports overflow.
func sumIncrements(incs []*sketchpb.SketchIncrement) (int64, bool) {
	var sum int64
	for _, inc := range incs {
		if sum > math.MaxInt64-inc.GetIncrement() {
			return 0, false
		}
		sum += inc.GetIncrement()
	}
	return sum, true
}

func (s *Machine) cmsIncrBy(req *sketchpb.SketchServiceCMSIncrByRequest) *sketchpb.SketchServiceCMSIncrByResponse {
	if r := s.CheckCMSIncrBy(req); r != nil {
		return &sketchpb.SketchServiceCMSIncrByResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_CMS)
	if r != nil {
		return &sketchpb.SketchServiceCMSIncrByResponse{Result: r}
	}
	if sum, fine := sumIncrements(req.GetIncrements()); !fine || !e.cms.canAdd(sum) {
		return &sketchpb.SketchServiceCMSIncrByResponse{Result: result.Failf(result.CodeLimitExceeded,
			"increments: %v; nothing was added", errOverflow)}
	}
	counts := make([]int64, len(req.GetIncrements()))
	for i, inc := range req.GetIncrements() {
		counts[i] = e.cms.incr(hash64(inc.GetItem()), inc.GetIncrement())
	}
	return &sketchpb.SketchServiceCMSIncrByResponse{Result: result.OK(), Counts: counts}
}

// CheckCMSMerge validates a CMSMerge request.
func (s *Machine) CheckCMSMerge(req *sketchpb.SketchServiceCMSMergeRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	if r := s.limits.checkNames("sources", req.GetSources()); r != nil {
		return r
	}
	if w := req.GetWeights(); len(w) != 0 {
		if len(w) != len(req.GetSources()) {
			return result.Invalidf("weights", "has %d entries for %d sources; give one per source or none", len(w), len(req.GetSources()))
		}
		for i, x := range w {
			if x <= 0 {
				return result.Invalidf(fmt.Sprintf("weights[%d]", i), "must be positive, got %d", x)
			}
		}
	}
	return nil
}

func (s *Machine) cmsMerge(req *sketchpb.SketchServiceCMSMergeRequest) *sketchpb.SketchServiceCMSMergeResponse {
	if r := s.CheckCMSMerge(req); r != nil {
		return &sketchpb.SketchServiceCMSMergeResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_CMS)
	if r != nil {
		return &sketchpb.SketchServiceCMSMergeResponse{Result: r}
	}
	srcs := make([]*countMin, len(req.GetSources()))
	for i, n := range req.GetSources() {
		f := fmt.Sprintf("sources[%d]", i)
		src, r := s.lookup(f, n, sketchpb.SketchKind_SKETCH_KIND_CMS)
		if r != nil {
			return &sketchpb.SketchServiceCMSMergeResponse{Result: r}
		}
		if src.cms.width != e.cms.width || src.cms.depth != e.cms.depth {
			return &sketchpb.SketchServiceCMSMergeResponse{Result: result.Failf(result.CodeConflict,
				"%s: count-min %q is %d wide and %d deep, the destination %d and %d",
				f, n, src.cms.width, src.cms.depth, e.cms.width, e.cms.depth)}
		}
		srcs[i] = src.cms
	}
	weights := req.GetWeights()
	if len(weights) == 0 {
		weights = make([]int64, len(srcs))
		for i := range weights {
			weights[i] = 1
		}
	}
	counters, total, err := weightedSum(srcs, weights)
	if err != nil {
		return &sketchpb.SketchServiceCMSMergeResponse{Result: result.Failf(result.CodeLimitExceeded, "weights: %v; nothing was merged", err)}
	}
	e.cms.counters, e.cms.total = counters, total
	return &sketchpb.SketchServiceCMSMergeResponse{Result: result.OK()}
}

// CheckTopKAdd validates a TopKAdd request.
func (s *Machine) CheckTopKAdd(req *sketchpb.SketchServiceTopKAddRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	return s.limits.checkItems("items", req.GetItems())
}

func (s *Machine) topkAdd(req *sketchpb.SketchServiceTopKAddRequest) *sketchpb.SketchServiceTopKAddResponse {
	if r := s.CheckTopKAdd(req); r != nil {
		return &sketchpb.SketchServiceTopKAddResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_TOPK)
	if r != nil {
		return &sketchpb.SketchServiceTopKAddResponse{Result: r}
	}
	var dropped [][]byte
	for _, it := range req.GetItems() {
		if out := e.topk.incr(it, hash64(it), 1); out != nil {
			dropped = append(dropped, out)
		}
	}
	return &sketchpb.SketchServiceTopKAddResponse{Result: result.OK(), Dropped: dropped}
}

// CheckTopKIncrBy validates a TopKIncrBy request.
func (s *Machine) CheckTopKIncrBy(req *sketchpb.SketchServiceTopKIncrByRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	return s.limits.checkIncrements(req.GetIncrements())
}

func (s *Machine) topkIncrBy(req *sketchpb.SketchServiceTopKIncrByRequest) *sketchpb.SketchServiceTopKIncrByResponse {
	if r := s.CheckTopKIncrBy(req); r != nil {
		return &sketchpb.SketchServiceTopKIncrByResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_TOPK)
	if r != nil {
		return &sketchpb.SketchServiceTopKIncrByResponse{Result: r}
	}
	var dropped [][]byte
	for _, inc := range req.GetIncrements() {
		if out := e.topk.incr(inc.GetItem(), hash64(inc.GetItem()), inc.GetIncrement()); out != nil {
			dropped = append(dropped, out)
		}
	}
	return &sketchpb.SketchServiceTopKIncrByResponse{Result: result.OK(), Dropped: dropped}
}

// CheckTDigestAdd validates a TDigestAdd request.
func (s *Machine) CheckTDigestAdd(req *sketchpb.SketchServiceTDigestAddRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	return checkFloats("values", req.GetValues(), false)
}

func (s *Machine) tdigestAdd(req *sketchpb.SketchServiceTDigestAddRequest) *sketchpb.SketchServiceTDigestAddResponse {
	if r := s.CheckTDigestAdd(req); r != nil {
		return &sketchpb.SketchServiceTDigestAddResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_TDIGEST)
	if r != nil {
		return &sketchpb.SketchServiceTDigestAddResponse{Result: r}
	}
	e.td.add(req.GetValues())
	return &sketchpb.SketchServiceTDigestAddResponse{Result: result.OK()}
}

// CheckTDigestMerge validates a TDigestMerge request.
func (s *Machine) CheckTDigestMerge(req *sketchpb.SketchServiceTDigestMergeRequest) *commonpb.Result {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return r
	}
	return s.limits.checkNames("sources", req.GetSources())
}

func (s *Machine) tdigestMerge(req *sketchpb.SketchServiceTDigestMergeRequest) *sketchpb.SketchServiceTDigestMergeResponse {
	if r := s.CheckTDigestMerge(req); r != nil {
		return &sketchpb.SketchServiceTDigestMergeResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_TDIGEST)
	if r != nil {
		return &sketchpb.SketchServiceTDigestMergeResponse{Result: r}
	}
	srcs := make([]*tDigest, len(req.GetSources()))
	for i, n := range req.GetSources() {
		src, r := s.lookup(fmt.Sprintf("sources[%d]", i), n, sketchpb.SketchKind_SKETCH_KIND_TDIGEST)
		if r != nil {
			return &sketchpb.SketchServiceTDigestMergeResponse{Result: r}
		}
		srcs[i] = src.td
	}
	e.td.mergeFrom(srcs, req.GetOverride())
	return &sketchpb.SketchServiceTDigestMergeResponse{Result: result.OK()}
}

func (s *Machine) tdigestReset(req *sketchpb.SketchServiceTDigestResetRequest) *sketchpb.SketchServiceTDigestResetResponse {
	if r := s.limits.checkName("name", req.GetName()); r != nil {
		return &sketchpb.SketchServiceTDigestResetResponse{Result: r}
	}
	e, r := s.lookupW("name", req.GetName(), sketchpb.SketchKind_SKETCH_KIND_TDIGEST)
	if r != nil {
		return &sketchpb.SketchServiceTDigestResetResponse{Result: r}
	}
	e.td.reset()
	return &sketchpb.SketchServiceTDigestResetResponse{Result: result.OK()}
}

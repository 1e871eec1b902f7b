package sketch

import (
	"fmt"
	"slices"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// The read methods answer queries from local state under a read lock: they
// validate the request as the API layer must, and never change anything.

// read validates name and finds the sketch of kind; the caller holds s.mu.
func (s *Machine) read(name string, kind sketchpb.SketchKind) (*entry, *commonpb.Result) {
	if r := s.limits.checkName("name", name); r != nil {
		return nil, r
	}
	return s.lookup("name", name, kind)
}

// Get answers GetSketch.
func (s *Machine) Get(req *sketchpb.SketchServiceGetSketchRequest) *sketchpb.SketchServiceGetSketchResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, r := s.read(req.GetName(), req.GetKind())
	if r != nil {
		return &sketchpb.SketchServiceGetSketchResponse{Result: r}
	}
	return &sketchpb.SketchServiceGetSketchResponse{Result: result.OK(), Info: e.info()}
}

// List answers ListSketches: sketches in name order after page_token.
func (s *Machine) List(req *sketchpb.SketchServiceListSketchesRequest) *sketchpb.SketchServiceListSketchesResponse {
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > maxPageSize:
		return &sketchpb.SketchServiceListSketchesResponse{Result: result.Invalidf("page_size", "must be between 0 and %d, got %d", maxPageSize, size)}
	case size == 0:
		size = defaultPageSize
	}
	if _, known := sketchpb.SketchKind_name[int32(req.GetKind())]; !known {
		return &sketchpb.SketchServiceListSketchesResponse{Result: result.Invalidf("kind", "unknown sketch kind %d", req.GetKind())}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.sketches))
	for n, e := range s.sketches {
		if n > req.GetPageToken() && (req.GetKind() == sketchpb.SketchKind_SKETCH_KIND_UNSPECIFIED || e.kind == req.GetKind()) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	resp := &sketchpb.SketchServiceListSketchesResponse{Result: result.OK()}
	if len(names) > size {
		names = names[:size]
		resp.NextPageToken = names[size-1]
	}
	for _, n := range names {
		resp.Sketches = append(resp.Sketches, s.sketches[n].info())
	}
	return resp
}

// BloomExists answers BloomExists.
func (s *Machine) BloomExists(req *sketchpb.SketchServiceBloomExistsRequest) *sketchpb.SketchServiceBloomExistsResponse {
	if r := s.limits.checkItem("item", req.GetItem()); r != nil {
		return &sketchpb.SketchServiceBloomExistsResponse{Result: r}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, r := s.read(req.GetName(), sketchpb.SketchKind_SKETCH_KIND_BLOOM)
	if r != nil {
		return &sketchpb.SketchServiceBloomExistsResponse{Result: r}
	}
	return &sketchpb.SketchServiceBloomExistsResponse{Result: result.OK(), Exists: e.bloom.exists(req.GetItem())}
}

// BloomMExists answers BloomMExists.
func (s *Machine) BloomMExists(req *sketchpb.SketchServiceBloomMExistsRequest) *sketchpb.SketchServiceBloomMExistsResponse {
	if r := s.limits.checkItems("items", req.GetItems()); r != nil {
		return &sketchpb.SketchServiceBloomMExistsResponse{Result: r}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, r := s.read(req.GetName(), sketchpb.SketchKind_SKETCH_KIND_BLOOM)
	if r != nil {
		return &sketchpb.SketchServiceBloomMExistsResponse{Result: r}
	}
	out := make([]bool, len(req.GetItems()))
	for i, it := range req.GetItems() {
		out[i] = e.bloom.exists(it)
	}
	return &sketchpb.SketchServiceBloomMExistsResponse{Result: result.OK(), Exists: out}
}

// BloomCard answers BloomCard.
func (s *Machine) BloomCard(req *sketchpb.SketchServiceBloomCardRequest) *sketchpb.SketchServiceBloomCardResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, r := s.read(req.GetName(), sketchpb.SketchKind_SKETCH_KIND_BLOOM)
	if r != nil {
		return &sketchpb.SketchServiceBloomCardResponse{Result: r}
	}
	return &sketchpb.SketchServiceBloomCardResponse{Result: result.OK(), Cardinality: e.bloom.inserted}
}

// HLLCount answers HLLCount: the estimate of one HLL or of a union.
func (s *Machine) HLLCount(req *sketchpb.SketchServiceHLLCountRequest) *sketchpb.SketchServiceHLLCountResponse {
	if len(req.GetOthers()) > 0 {
		if r := s.limits.checkNames("others", req.GetOthers()); r != nil {
			return &sketchpb.SketchServiceHLLCountResponse{Result: r}
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, r := s.read(req.GetName(), sketchpb.SketchKind_SKETCH_KIND_HLL)
	if r != nil {
		return &sketchpb.SketchServiceHLLCountResponse{Result: r}
	}
	others, r := s.hllSources("others", req.GetOthers(), e.hll.p)
	if r != nil {
		return &sketchpb.SketchServiceHLLCountResponse{Result: r}
	}
	return &sketchpb.SketchServiceHLLCountResponse{Result: result.OK(), Count: estimate(append([]*hyperLogLog{e.hll}, others...)...)}
}

// CMSQuery answers CMSQuery.
func (s *Machine) CMSQuery(req *sketchpb.SketchServiceCMSQueryRequest) *sketchpb.SketchServiceCMSQueryResponse {
	if r := s.limits.checkItems("items", req.GetItems()); r != nil {
		return &sketchpb.SketchServiceCMSQueryResponse{Result: r}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, r := s.read(req.GetName(), sketchpb.SketchKind_SKETCH_KIND_CMS)
	if r != nil {
		return &sketchpb.SketchServiceCMSQueryResponse{Result: r}
	}
	counts := make([]int64, len(req.GetItems()))
	for i, it := range req.GetItems() {
		counts[i] = e.cms.query(hash64(it))
	}
	return &sketchpb.SketchServiceCMSQueryResponse{Result: result.OK(), Counts: counts}
}

// TopKQuery answers TopKQuery.
func (s *Machine) TopKQuery(req *sketchpb.SketchServiceTopKQueryRequest) *sketchpb.SketchServiceTopKQueryResponse {
	if r := s.limits.checkItems("items", req.GetItems()); r != nil {
		return &sketchpb.SketchServiceTopKQueryResponse{Result: r}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, r := s.read(req.GetName(), sketchpb.SketchKind_SKETCH_KIND_TOPK)
	if r != nil {
		return &sketchpb.SketchServiceTopKQueryResponse{Result: r}
	}
	in := make([]bool, len(req.GetItems()))
	for i, it := range req.GetItems() {
		in[i] = e.topk.contains(it)
	}
	return &sketchpb.SketchServiceTopKQueryResponse{Result: result.OK(), InTop: in}
}

// TopKList answers TopKList.
func (s *Machine) TopKList(req *sketchpb.SketchServiceTopKListRequest) *sketchpb.SketchServiceTopKListResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, r := s.read(req.GetName(), sketchpb.SketchKind_SKETCH_KIND_TOPK)
	if r != nil {
		return &sketchpb.SketchServiceTopKListResponse{Result: r}
	}
	list := e.topk.list()
	items := make([]*sketchpb.TopKItem, len(list))
	for i, x := range list {
		items[i] = &sketchpb.TopKItem{Item: x.item, Count: x.count}
	}
	return &sketchpb.SketchServiceTopKListResponse{Result: result.OK(), Items: items}
}

// tdigest validates name and runs f on the t-digest under the read lock.
func (s *Machine) tdigest(name string, f func(*tDigest)) *commonpb.Result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, r := s.read(name, sketchpb.SketchKind_SKETCH_KIND_TDIGEST)
	if r != nil {
		return r
	}
	f(e.td)
	return result.OK()
}

// TDigestQuantile answers TDigestQuantile.
func (s *Machine) TDigestQuantile(req *sketchpb.SketchServiceTDigestQuantileRequest) *sketchpb.SketchServiceTDigestQuantileResponse {
	qs := req.GetQuantiles()
	if len(qs) == 0 {
		return &sketchpb.SketchServiceTDigestQuantileResponse{Result: result.Invalidf("quantiles", "must not be empty")}
	}
	for i, q := range qs {
		if r := checkQuantile(fmt.Sprintf("quantiles[%d]", i), q); r != nil {
			return &sketchpb.SketchServiceTDigestQuantileResponse{Result: r}
		}
	}
	out := make([]float64, len(qs))
	r := s.tdigest(req.GetName(), func(t *tDigest) {
		for i, q := range qs {
			out[i] = t.quantile(q)
		}
	})
	if !r.GetSuccess() {
		return &sketchpb.SketchServiceTDigestQuantileResponse{Result: r}
	}
	return &sketchpb.SketchServiceTDigestQuantileResponse{Result: r, Values: out}
}

// TDigestCDF answers TDigestCDF.
func (s *Machine) TDigestCDF(req *sketchpb.SketchServiceTDigestCDFRequest) *sketchpb.SketchServiceTDigestCDFResponse {
	if r := checkFloats("values", req.GetValues(), true); r != nil {
		return &sketchpb.SketchServiceTDigestCDFResponse{Result: r}
	}
	out := make([]float64, len(req.GetValues()))
	r := s.tdigest(req.GetName(), func(t *tDigest) {
		for i, v := range req.GetValues() {
			out[i] = t.cdf(v)
		}
	})
	if !r.GetSuccess() {
		return &sketchpb.SketchServiceTDigestCDFResponse{Result: r}
	}
	return &sketchpb.SketchServiceTDigestCDFResponse{Result: r, Fractions: out}
}

func (s *Machine) ranks(name string, values []float64, reverse bool) ([]int64, *commonpb.Result) {
	if r := checkFloats("values", values, true); r != nil {
		return nil, r
	}
	out := make([]int64, len(values))
	r := s.tdigest(name, func(t *tDigest) {
		for i, v := range values {
			out[i] = t.rank(v, reverse)
		}
	})
	if !r.GetSuccess() {
		return nil, r
	}
	return out, r
}

// TDigestRank answers TDigestRank.
func (s *Machine) TDigestRank(req *sketchpb.SketchServiceTDigestRankRequest) *sketchpb.SketchServiceTDigestRankResponse {
	out, r := s.ranks(req.GetName(), req.GetValues(), false)
	return &sketchpb.SketchServiceTDigestRankResponse{Result: r, Ranks: out}
}

// TDigestRevRank answers TDigestRevRank.
func (s *Machine) TDigestRevRank(req *sketchpb.SketchServiceTDigestRevRankRequest) *sketchpb.SketchServiceTDigestRevRankResponse {
	out, r := s.ranks(req.GetName(), req.GetValues(), true)
	return &sketchpb.SketchServiceTDigestRevRankResponse{Result: r, Ranks: out}
}

func (s *Machine) byRanks(name string, ranks []int64, reverse bool) ([]float64, *commonpb.Result) {
	if len(ranks) == 0 {
		return nil, result.Invalidf("ranks", "must not be empty")
	}
	for i, rk := range ranks {
		if rk < 0 {
			return nil, result.Invalidf(fmt.Sprintf("ranks[%d]", i), "must not be negative, got %d", rk)
		}
	}
	out := make([]float64, len(ranks))
	r := s.tdigest(name, func(t *tDigest) {
		for i, rk := range ranks {
			out[i] = t.byRank(rk, reverse)
		}
	})
	if !r.GetSuccess() {
		return nil, r
	}
	return out, r
}

// TDigestByRank answers TDigestByRank.
func (s *Machine) TDigestByRank(req *sketchpb.SketchServiceTDigestByRankRequest) *sketchpb.SketchServiceTDigestByRankResponse {
	out, r := s.byRanks(req.GetName(), req.GetRanks(), false)
	return &sketchpb.SketchServiceTDigestByRankResponse{Result: r, Values: out}
}

// TDigestByRevRank answers TDigestByRevRank.
func (s *Machine) TDigestByRevRank(req *sketchpb.SketchServiceTDigestByRevRankRequest) *sketchpb.SketchServiceTDigestByRevRankResponse {
	out, r := s.byRanks(req.GetName(), req.GetRanks(), true)
	return &sketchpb.SketchServiceTDigestByRevRankResponse{Result: r, Values: out}
}

// TDigestTrimmedMean answers TDigestTrimmedMean.
func (s *Machine) TDigestTrimmedMean(req *sketchpb.SketchServiceTDigestTrimmedMeanRequest) *sketchpb.SketchServiceTDigestTrimmedMeanResponse {
	lo, hi := req.GetLowCutQuantile(), req.GetHighCutQuantile()
	if r := checkQuantile("low_cut_quantile", lo); r != nil {
		return &sketchpb.SketchServiceTDigestTrimmedMeanResponse{Result: r}
	}
	if r := checkQuantile("high_cut_quantile", hi); r != nil {
		return &sketchpb.SketchServiceTDigestTrimmedMeanResponse{Result: r}
	}
	if hi <= lo {
		return &sketchpb.SketchServiceTDigestTrimmedMeanResponse{Result: result.Invalidf("high_cut_quantile",
			"must be above low_cut_quantile (%v), got %v", lo, hi)}
	}
	var mean float64
	r := s.tdigest(req.GetName(), func(t *tDigest) { mean = t.trimmedMean(lo, hi) })
	return &sketchpb.SketchServiceTDigestTrimmedMeanResponse{Result: r, Mean: mean}
}

// TDigestMin answers TDigestMin.
func (s *Machine) TDigestMin(req *sketchpb.SketchServiceTDigestMinRequest) *sketchpb.SketchServiceTDigestMinResponse {
	var v float64
	r := s.tdigest(req.GetName(), func(t *tDigest) { v = t.minValue() })
	return &sketchpb.SketchServiceTDigestMinResponse{Result: r, Value: v}
}

// TDigestMax answers TDigestMax.
func (s *Machine) TDigestMax(req *sketchpb.SketchServiceTDigestMaxRequest) *sketchpb.SketchServiceTDigestMaxResponse {
	var v float64
	r := s.tdigest(req.GetName(), func(t *tDigest) { v = t.maxValue() })
	return &sketchpb.SketchServiceTDigestMaxResponse{Result: r, Value: v}
}

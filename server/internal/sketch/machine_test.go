package sketch

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

func items(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestCreateIdempotentAndExists(t *testing.T) {
	s := New(Limits{})
	info := create(t, s, bloomCfg("b", 1000, 0.01))
	if info.GetKind() != sketchpb.SketchKind_SKETCH_KIND_BLOOM || info.GetConfig().GetBloom().GetExpansion() != 2 || info.GetCreatedAtMs() == 0 {
		t.Fatalf("info %v", info)
	}
	create(t, s, bloomCfg("b", 1000, 0.01)) // identical: answers the sketch
	r := apply[*sketchpb.SketchServiceCreateSketchResponse](t, s, OpCreate, &sketchpb.SketchServiceCreateSketchRequest{Config: bloomCfg("b", 2000, 0.01)})
	if r.GetResult().GetResultCode() != result.CodeExists {
		t.Fatalf("different config: %v", r.GetResult())
	}
	r = apply[*sketchpb.SketchServiceCreateSketchResponse](t, s, OpCreate, &sketchpb.SketchServiceCreateSketchRequest{Config: hllCfg("b")})
	if r.GetResult().GetResultCode() != result.CodeExists {
		t.Fatalf("other kind: %v", r.GetResult())
	}
	// Using a sketch as another kind is a conflict.
	hr := apply[*sketchpb.SketchServiceHLLAddResponse](t, s, OpHLLAdd, &sketchpb.SketchServiceHLLAddRequest{Name: "b", Items: items("x")})
	if hr.GetResult().GetResultCode() != result.CodeConflict {
		t.Fatalf("hll add on bloom: %v", hr.GetResult())
	}
	if g := s.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "b", Kind: sketchpb.SketchKind_SKETCH_KIND_CMS}); g.GetResult().GetResultCode() != result.CodeConflict {
		t.Fatalf("get as cms: %v", g.GetResult())
	}
	if g := s.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "nope"}); g.GetResult().GetResultCode() != result.CodeNotFound {
		t.Fatalf("get missing: %v", g.GetResult())
	}
	mustOK[*sketchpb.SketchServiceDeleteSketchResponse](t, s, OpDelete, &sketchpb.SketchServiceDeleteSketchRequest{Name: "b"})
	if d := apply[*sketchpb.SketchServiceDeleteSketchResponse](t, s, OpDelete, &sketchpb.SketchServiceDeleteSketchRequest{Name: "b"}); d.GetResult().GetResultCode() != result.CodeNotFound {
		t.Fatalf("second delete: %v", d.GetResult())
	}
}

func TestList(t *testing.T) {
	s := New(Limits{})
	for i := range 5 {
		create(t, s, hllCfg(fmt.Sprintf("h%d", i)))
		create(t, s, tdCfg(fmt.Sprintf("t%d", i), 0))
	}
	var names []string
	token := ""
	for {
		r := s.List(&sketchpb.SketchServiceListSketchesRequest{Kind: sketchpb.SketchKind_SKETCH_KIND_HLL, PageSize: 2, PageToken: token})
		if !r.GetResult().GetSuccess() {
			t.Fatal(r.GetResult())
		}
		for _, in := range r.GetSketches() {
			names = append(names, in.GetConfig().GetName())
		}
		if token = r.GetNextPageToken(); token == "" {
			break
		}
	}
	if !slices.Equal(names, []string{"h0", "h1", "h2", "h3", "h4"}) {
		t.Fatalf("names %v", names)
	}
	if r := s.List(&sketchpb.SketchServiceListSketchesRequest{}); len(r.GetSketches()) != 10 {
		t.Fatalf("all: %d", len(r.GetSketches()))
	}
}

func TestBloomOps(t *testing.T) {
	s := New(Limits{})
	create(t, s, bloomCfg("b", 100, 0.01))
	if !mustOK[*sketchpb.SketchServiceBloomAddResponse](t, s, OpBloomAdd, &sketchpb.SketchServiceBloomAddRequest{Name: "b", Item: []byte("a")}).GetAdded() {
		t.Fatal("first add not added")
	}
	if mustOK[*sketchpb.SketchServiceBloomAddResponse](t, s, OpBloomAdd, &sketchpb.SketchServiceBloomAddRequest{Name: "b", Item: []byte("a")}).GetAdded() {
		t.Fatal("second add added")
	}
	m := mustOK[*sketchpb.SketchServiceBloomMAddResponse](t, s, OpBloomMAdd, &sketchpb.SketchServiceBloomMAddRequest{Name: "b", Items: items("a", "b", "c", "b")})
	if !slices.Equal(m.GetAdded(), []bool{false, true, true, false}) {
		t.Fatalf("madd %v", m.GetAdded())
	}
	ex := s.BloomMExists(&sketchpb.SketchServiceBloomMExistsRequest{Name: "b", Items: items("a", "c", "zzz")})
	if !slices.Equal(ex.GetExists(), []bool{true, true, false}) {
		t.Fatalf("mexists %v", ex.GetExists())
	}
	if c := s.BloomCard(&sketchpb.SketchServiceBloomCardRequest{Name: "b"}).GetCardinality(); c != 3 {
		t.Fatalf("card %d", c)
	}
	st := s.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "b"}).GetInfo().GetBloom()
	if st.GetCapacity() != 100 || st.GetFilters() != 1 || st.GetItemsInserted() != 3 {
		t.Fatalf("stats %v", st)
	}
}

func TestBloomNonScalingFull(t *testing.T) {
	s := New(Limits{})
	cfg := bloomCfg("b", 3, 0.01)
	cfg.GetBloom().NonScaling = true
	create(t, s, cfg)
	mustOK[*sketchpb.SketchServiceBloomMAddResponse](t, s, OpBloomMAdd, &sketchpb.SketchServiceBloomMAddRequest{Name: "b", Items: items("a", "b")})
	before := snapshotBytes(t, s)
	r := apply[*sketchpb.SketchServiceBloomMAddResponse](t, s, OpBloomMAdd, &sketchpb.SketchServiceBloomMAddRequest{Name: "b", Items: items("c", "d")})
	if r.GetResult().GetResultCode() != result.CodeLimitExceeded || !strings.HasPrefix(r.GetResult().GetMessage(), "name: ") {
		t.Fatalf("overfull madd: %v", r.GetResult())
	}
	if !bytes.Equal(before, snapshotBytes(t, s)) {
		t.Fatal("refused madd changed the filter")
	}
	// Re-adding present items and one new one fits.
	mustOK[*sketchpb.SketchServiceBloomMAddResponse](t, s, OpBloomMAdd, &sketchpb.SketchServiceBloomMAddRequest{Name: "b", Items: items("a", "c", "c")})
	if r := apply[*sketchpb.SketchServiceBloomAddResponse](t, s, OpBloomAdd, &sketchpb.SketchServiceBloomAddRequest{Name: "b", Item: []byte("e")}); r.GetResult().GetResultCode() != result.CodeLimitExceeded {
		t.Fatalf("add past capacity: %v", r.GetResult())
	}
	// A scaling filter refuses to grow past the size limit.
	s = New(Limits{MaxSketchBytes: 4096})
	create(t, s, bloomCfg("g", 1000, 0.01))
	var its [][]byte
	for i := range 5000 {
		its = append(its, fmt.Appendf(nil, "%d", i))
	}
	if r := apply[*sketchpb.SketchServiceBloomMAddResponse](t, s, OpBloomMAdd, &sketchpb.SketchServiceBloomMAddRequest{Name: "g", Items: its}); r.GetResult().GetResultCode() != result.CodeLimitExceeded {
		t.Fatalf("growth past limit: %v", r.GetResult())
	}
}

func TestHLLOps(t *testing.T) {
	s := New(Limits{})
	create(t, s, hllCfg("a"))
	create(t, s, hllCfg("b"))
	create(t, s, &sketchpb.SketchConfig{Name: "p10", Kind: &sketchpb.SketchConfig_Hll{Hll: &sketchpb.HLLConfig{Precision: 10}}})
	if !mustOK[*sketchpb.SketchServiceHLLAddResponse](t, s, OpHLLAdd, &sketchpb.SketchServiceHLLAddRequest{Name: "a", Items: items("1", "2", "3")}).GetChanged() {
		t.Fatal("first add unchanged")
	}
	if mustOK[*sketchpb.SketchServiceHLLAddResponse](t, s, OpHLLAdd, &sketchpb.SketchServiceHLLAddRequest{Name: "a", Items: items("2", "3")}).GetChanged() {
		t.Fatal("re-add changed")
	}
	mustOK[*sketchpb.SketchServiceHLLAddResponse](t, s, OpHLLAdd, &sketchpb.SketchServiceHLLAddRequest{Name: "b", Items: items("3", "4", "5", "6")})
	if c := s.HLLCount(&sketchpb.SketchServiceHLLCountRequest{Name: "a", Others: []string{"b"}}).GetCount(); c != 6 {
		t.Fatalf("union count %d", c)
	}
	if c := s.HLLCount(&sketchpb.SketchServiceHLLCountRequest{Name: "a"}).GetCount(); c != 3 {
		t.Fatalf("count %d", c)
	}
	if c := mustOK[*sketchpb.SketchServiceHLLMergeResponse](t, s, OpHLLMerge, &sketchpb.SketchServiceHLLMergeRequest{Name: "a", Sources: []string{"b"}}).GetCount(); c != 6 {
		t.Fatalf("merge count %d", c)
	}
	before := snapshotBytes(t, s)
	r := apply[*sketchpb.SketchServiceHLLMergeResponse](t, s, OpHLLMerge, &sketchpb.SketchServiceHLLMergeRequest{Name: "a", Sources: []string{"b", "p10"}})
	if r.GetResult().GetResultCode() != result.CodeConflict || !strings.HasPrefix(r.GetResult().GetMessage(), "sources[1]: ") {
		t.Fatalf("precision mismatch: %v", r.GetResult())
	}
	if !bytes.Equal(before, snapshotBytes(t, s)) {
		t.Fatal("refused merge changed state")
	}
}

func TestCMSOps(t *testing.T) {
	s := New(Limits{})
	info := create(t, s, &sketchpb.SketchConfig{Name: "c", Kind: &sketchpb.SketchConfig_Cms{Cms: &sketchpb.CMSConfig{ErrorRate: 0.001, Probability: 0.01}}})
	if st := info.GetCms(); st.GetWidth() != 2000 || st.GetDepth() != 7 {
		t.Fatalf("dimensions by probability: %v", st)
	}
	create(t, s, cmsCfg("d", 2000, 7))
	create(t, s, cmsCfg("small", 10, 7))
	r := mustOK[*sketchpb.SketchServiceCMSIncrByResponse](t, s, OpCMSIncrBy, &sketchpb.SketchServiceCMSIncrByRequest{Name: "c",
		Increments: []*sketchpb.SketchIncrement{{Item: []byte("a"), Increment: 5}, {Item: []byte("b"), Increment: 2}, {Item: []byte("a"), Increment: 1}}})
	if !slices.Equal(r.GetCounts(), []int64{5, 2, 6}) {
		t.Fatalf("incrby counts %v", r.GetCounts())
	}
	mustOK[*sketchpb.SketchServiceCMSIncrByResponse](t, s, OpCMSIncrBy, &sketchpb.SketchServiceCMSIncrByRequest{Name: "d",
		Increments: []*sketchpb.SketchIncrement{{Item: []byte("a"), Increment: 10}}})
	mustOK[*sketchpb.SketchServiceCMSMergeResponse](t, s, OpCMSMerge, &sketchpb.SketchServiceCMSMergeRequest{Name: "c", Sources: []string{"c", "d"}, Weights: []int64{1, 3}})
	if q := s.CMSQuery(&sketchpb.SketchServiceCMSQueryRequest{Name: "c", Items: items("a", "b", "zz")}).GetCounts(); !slices.Equal(q, []int64{36, 2, 0}) {
		t.Fatalf("after merge %v", q)
	}
	if n := s.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "c"}).GetInfo().GetCms().GetCount(); n != 38 {
		t.Fatalf("total %d", n)
	}
	before := snapshotBytes(t, s)
	m := apply[*sketchpb.SketchServiceCMSMergeResponse](t, s, OpCMSMerge, &sketchpb.SketchServiceCMSMergeRequest{Name: "c", Sources: []string{"d", "small"}})
	if m.GetResult().GetResultCode() != result.CodeConflict || !strings.HasPrefix(m.GetResult().GetMessage(), "sources[1]: ") {
		t.Fatalf("shape mismatch: %v", m.GetResult())
	}
	o := apply[*sketchpb.SketchServiceCMSIncrByResponse](t, s, OpCMSIncrBy, &sketchpb.SketchServiceCMSIncrByRequest{Name: "c",
		Increments: []*sketchpb.SketchIncrement{{Item: []byte("a"), Increment: 1}, {Item: []byte("a"), Increment: math.MaxInt64}}})
	if o.GetResult().GetResultCode() != result.CodeLimitExceeded {
		t.Fatalf("overflow: %v", o.GetResult())
	}
	if !bytes.Equal(before, snapshotBytes(t, s)) {
		t.Fatal("refused commands changed state")
	}
}

func TestTopKOps(t *testing.T) {
	s := New(Limits{})
	create(t, s, topkCfg("k", 2, 50, 4))
	r := mustOK[*sketchpb.SketchServiceTopKAddResponse](t, s, OpTopKAdd, &sketchpb.SketchServiceTopKAddRequest{Name: "k", Items: items("a", "a", "a", "b", "b", "c")})
	if len(r.GetDropped()) != 0 {
		t.Fatalf("dropped %q", r.GetDropped())
	}
	in := mustOK[*sketchpb.SketchServiceTopKIncrByResponse](t, s, OpTopKIncrBy, &sketchpb.SketchServiceTopKIncrByRequest{Name: "k",
		Increments: []*sketchpb.SketchIncrement{{Item: []byte("c"), Increment: 10}}})
	if len(in.GetDropped()) != 1 || string(in.GetDropped()[0]) != "b" {
		t.Fatalf("incrby dropped %q, want [b]", in.GetDropped())
	}
	l := s.TopKList(&sketchpb.SketchServiceTopKListRequest{Name: "k"}).GetItems()
	if len(l) != 2 || string(l[0].GetItem()) != "c" || l[0].GetCount() != 11 || string(l[1].GetItem()) != "a" || l[1].GetCount() != 3 {
		t.Fatalf("list %v", l)
	}
	if q := s.TopKQuery(&sketchpb.SketchServiceTopKQueryRequest{Name: "k", Items: items("a", "b", "c")}).GetInTop(); !slices.Equal(q, []bool{true, false, true}) {
		t.Fatalf("query %v", q)
	}
	st := s.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "k"}).GetInfo().GetTopk()
	if st.GetK() != 2 || st.GetWidth() != 50 || st.GetDepth() != 4 || st.GetDecay() != 0.9 {
		t.Fatalf("stats %v", st)
	}
}

// TestTDigestRedisExamples checks the answers RedisBloom's documentation
// gives for the same commands.
func TestTDigestRedisExamples(t *testing.T) {
	s := New(Limits{})
	create(t, s, tdCfg("t", 0))
	mustOK[*sketchpb.SketchServiceTDigestAddResponse](t, s, OpTDigestAdd, &sketchpb.SketchServiceTDigestAddRequest{Name: "t", Values: []float64{10, 20, 30, 40, 50, 60}})
	vals := []float64{0, 10, 20, 30, 40, 50, 60, 70}
	if r := s.TDigestRank(&sketchpb.SketchServiceTDigestRankRequest{Name: "t", Values: vals}).GetRanks(); !slices.Equal(r, []int64{-1, 0, 1, 2, 3, 4, 5, 6}) {
		t.Errorf("rank %v", r)
	}
	if r := s.TDigestRevRank(&sketchpb.SketchServiceTDigestRevRankRequest{Name: "t", Values: vals}).GetRanks(); !slices.Equal(r, []int64{6, 5, 4, 3, 2, 1, 0, -1}) {
		t.Errorf("revrank %v", r)
	}
	ranks := []int64{0, 1, 2, 3, 4, 5, 6}
	if v := s.TDigestByRank(&sketchpb.SketchServiceTDigestByRankRequest{Name: "t", Ranks: ranks}).GetValues(); !slices.Equal(v, []float64{10, 20, 30, 40, 50, 60, math.Inf(1)}) {
		t.Errorf("byrank %v", v)
	}
	if v := s.TDigestByRevRank(&sketchpb.SketchServiceTDigestByRevRankRequest{Name: "t", Ranks: ranks}).GetValues(); !slices.Equal(v, []float64{60, 50, 40, 30, 20, 10, math.Inf(-1)}) {
		t.Errorf("byrevrank %v", v)
	}
	if v := s.TDigestMin(&sketchpb.SketchServiceTDigestMinRequest{Name: "t"}).GetValue(); v != 10 {
		t.Errorf("min %v", v)
	}
	if v := s.TDigestMax(&sketchpb.SketchServiceTDigestMaxRequest{Name: "t"}).GetValue(); v != 60 {
		t.Errorf("max %v", v)
	}
	if v := s.TDigestCDF(&sketchpb.SketchServiceTDigestCDFRequest{Name: "t", Values: []float64{0, 35, 100}}).GetFractions(); !slices.Equal(v, []float64{0, 0.5, 1}) {
		t.Errorf("cdf %v", v)
	}

	create(t, s, tdCfg("m", 0))
	mustOK[*sketchpb.SketchServiceTDigestAddResponse](t, s, OpTDigestAdd, &sketchpb.SketchServiceTDigestAddRequest{Name: "m", Values: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}})
	for _, c := range []struct{ lo, hi, want float64 }{{0.1, 0.6, 4}, {0.3, 0.9, 6.5}, {0, 1, 5.5}} {
		if v := s.TDigestTrimmedMean(&sketchpb.SketchServiceTDigestTrimmedMeanRequest{Name: "m", LowCutQuantile: c.lo, HighCutQuantile: c.hi}).GetMean(); v != c.want {
			t.Errorf("trimmed mean %v..%v = %v, want %v", c.lo, c.hi, v, c.want)
		}
	}
	if v := s.TDigestQuantile(&sketchpb.SketchServiceTDigestQuantileRequest{Name: "m", Quantiles: []float64{0, 0.5, 1}}).GetValues(); !slices.Equal(v, []float64{1, 6, 10}) {
		t.Errorf("quantiles %v", v)
	}

	// Merge, override, reset.
	mustOK[*sketchpb.SketchServiceTDigestMergeResponse](t, s, OpTDigestMerge, &sketchpb.SketchServiceTDigestMergeRequest{Name: "m", Sources: []string{"t"}})
	if st := s.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "m"}).GetInfo().GetTdigest(); st.GetObservations() != 16 || st.GetMin() != 1 || st.GetMax() != 60 {
		t.Errorf("after merge %v", st)
	}
	mustOK[*sketchpb.SketchServiceTDigestMergeResponse](t, s, OpTDigestMerge, &sketchpb.SketchServiceTDigestMergeRequest{Name: "m", Sources: []string{"t"}, Override: true})
	if st := s.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "m"}).GetInfo().GetTdigest(); st.GetObservations() != 6 || st.GetMin() != 10 {
		t.Errorf("after override %v", st)
	}
	mustOK[*sketchpb.SketchServiceTDigestResetResponse](t, s, OpTDigestReset, &sketchpb.SketchServiceTDigestResetRequest{Name: "m"})
	st := s.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "m"}).GetInfo().GetTdigest()
	if st.GetObservations() != 0 || !math.IsNaN(st.GetMin()) || st.GetCompression() != 100 {
		t.Errorf("after reset %v", st)
	}
	if r := s.TDigestRank(&sketchpb.SketchServiceTDigestRankRequest{Name: "m", Values: []float64{1}}).GetRanks(); r[0] != -2 {
		t.Errorf("rank of empty %v", r)
	}
	if v := s.TDigestQuantile(&sketchpb.SketchServiceTDigestQuantileRequest{Name: "m", Quantiles: []float64{0.5}}).GetValues(); !math.IsNaN(v[0]) {
		t.Errorf("quantile of empty %v", v)
	}
}

// workload drives every mutating op over a few sketches.
func workload(t testing.TB, s *Machine, round int) {
	if round == 0 {
		create(t, s, bloomCfg("b", 50, 0.01))
		create(t, s, hllCfg("h"))
		create(t, s, hllCfg("h2"))
		create(t, s, cmsCfg("c", 64, 4))
		create(t, s, topkCfg("k", 5, 16, 3))
		create(t, s, tdCfg("t", 50))
		create(t, s, tdCfg("t2", 0))
	}
	var its [][]byte
	var incs []*sketchpb.SketchIncrement
	var vals []float64
	for i := range 40 {
		x := fmt.Appendf(nil, "r%d-i%d", round, (i*i)%23)
		its = append(its, x)
		incs = append(incs, &sketchpb.SketchIncrement{Item: x, Increment: int64(1 + i%4)})
		vals = append(vals, float64((round*131+i*17)%97)/7)
	}
	mustOK[*sketchpb.SketchServiceBloomMAddResponse](t, s, OpBloomMAdd, &sketchpb.SketchServiceBloomMAddRequest{Name: "b", Items: its})
	mustOK[*sketchpb.SketchServiceHLLAddResponse](t, s, OpHLLAdd, &sketchpb.SketchServiceHLLAddRequest{Name: "h", Items: its})
	mustOK[*sketchpb.SketchServiceHLLAddResponse](t, s, OpHLLAdd, &sketchpb.SketchServiceHLLAddRequest{Name: "h2", Items: its[:7]})
	mustOK[*sketchpb.SketchServiceHLLMergeResponse](t, s, OpHLLMerge, &sketchpb.SketchServiceHLLMergeRequest{Name: "h2", Sources: []string{"h"}})
	mustOK[*sketchpb.SketchServiceCMSIncrByResponse](t, s, OpCMSIncrBy, &sketchpb.SketchServiceCMSIncrByRequest{Name: "c", Increments: incs})
	mustOK[*sketchpb.SketchServiceTopKAddResponse](t, s, OpTopKAdd, &sketchpb.SketchServiceTopKAddRequest{Name: "k", Items: its})
	mustOK[*sketchpb.SketchServiceTopKIncrByResponse](t, s, OpTopKIncrBy, &sketchpb.SketchServiceTopKIncrByRequest{Name: "k", Increments: incs})
	mustOK[*sketchpb.SketchServiceTDigestAddResponse](t, s, OpTDigestAdd, &sketchpb.SketchServiceTDigestAddRequest{Name: "t", Values: vals})
	mustOK[*sketchpb.SketchServiceTDigestMergeResponse](t, s, OpTDigestMerge, &sketchpb.SketchServiceTDigestMergeRequest{Name: "t2", Sources: []string{"t"}})
}

// TestSnapshotExactAndDeterministic: two replicas applying the same log
// hold identical bytes; a restored replica holds the same bytes and, fed
// the rest of the log, stays identical (Top-K's random state included).
func TestSnapshotExactAndDeterministic(t *testing.T) {
	a, b := New(Limits{}), New(Limits{})
	for round := range 5 {
		workload(t, a, round)
		workload(t, b, round)
	}
	snap := snapshotBytes(t, a)
	if !bytes.Equal(snap, snapshotBytes(t, b)) {
		t.Fatal("two replicas diverged")
	}
	c := New(Limits{})
	if err := c.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap, snapshotBytes(t, c)) {
		t.Fatal("restore is not exact")
	}
	for round := 5; round < 30; round++ {
		workload(t, a, round)
		workload(t, c, round)
	}
	if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, c)) {
		t.Fatal("restored replica diverged after more commands")
	}
	la := a.TopKList(&sketchpb.SketchServiceTopKListRequest{Name: "k"})
	lc := c.TopKList(&sketchpb.SketchServiceTopKListRequest{Name: "k"})
	if !proto.Equal(la, lc) {
		t.Fatal("top-k lists differ")
	}
	// An empty reader is the empty state; garbage is refused and changes nothing.
	if err := c.Restore(bytes.NewReader([]byte{1, 5, 0xff})); err == nil {
		t.Fatal("garbage restored")
	}
	if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, c)) {
		t.Fatal("failed restore changed state")
	}
	for cut := 1; cut < len(snap); cut += 1 + len(snap)/200 {
		d := New(Limits{})
		if err := d.Restore(bytes.NewReader(snap[:cut])); err == nil {
			t.Fatalf("truncated snapshot (%d of %d bytes) restored", cut, len(snap))
		}
	}
	if err := c.Restore(bytes.NewReader(nil)); err != nil || len(c.List(&sketchpb.SketchServiceListSketchesRequest{}).GetSketches()) != 0 {
		t.Fatalf("empty restore: %v", err)
	}
}

func TestApplyGarbage(t *testing.T) {
	s := New(Limits{})
	if _, ok := s.Apply(fsm.Command{Subsystem: Name, Op: 999}).(error); !ok {
		t.Fatal("unknown op not an error")
	}
	if _, ok := s.Apply(fsm.Command{Subsystem: Name, Op: OpCreate, Payload: []byte{0xff, 0xff}}).(error); !ok {
		t.Fatal("garbage payload not an error")
	}
}

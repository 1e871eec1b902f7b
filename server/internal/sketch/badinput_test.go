package sketch

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// TestBadInput: every malformed request is refused with invalid_argument
// naming the field, and changes nothing.
func TestBadInput(t *testing.T) {
	s := New(Limits{})
	workload(t, s, 0)
	before := snapshotBytes(t, s)
	cfg := func(c *sketchpb.SketchConfig) proto.Message {
		return &sketchpb.SketchServiceCreateSketchRequest{Config: c}
	}
	inc := func(item string, n int64) []*sketchpb.SketchIncrement {
		return []*sketchpb.SketchIncrement{{Item: []byte(item), Increment: n}}
	}
	writes := []struct {
		op    uint16
		req   proto.Message
		field string
	}{
		{OpCreate, &sketchpb.SketchServiceCreateSketchRequest{}, "config"},
		{OpCreate, cfg(bloomCfg("", 10, 0.01)), "config.name"},
		{OpCreate, cfg(bloomCfg("a b", 10, 0.01)), "config.name"},
		{OpCreate, cfg(bloomCfg(strings.Repeat("n", 257), 10, 0.01)), "config.name"},
		{OpCreate, cfg(&sketchpb.SketchConfig{Name: "x"}), "config.kind"},
		{OpCreate, cfg(bloomCfg("x", 0, 0.01)), "config.bloom.capacity"},
		{OpCreate, cfg(bloomCfg("x", 10, 0)), "config.bloom.error_rate"},
		{OpCreate, cfg(bloomCfg("x", 10, 1)), "config.bloom.error_rate"},
		{OpCreate, cfg(bloomCfg("x", 10, math.NaN())), "config.bloom.error_rate"},
		{OpCreate, cfg(&sketchpb.SketchConfig{Name: "x", Kind: &sketchpb.SketchConfig_Hll{Hll: &sketchpb.HLLConfig{Precision: 19}}}), "config.hll.precision"},
		{OpCreate, cfg(cmsCfg("x", 0, 5)), "config.cms.width"},
		{OpCreate, cfg(cmsCfg("x", 5, 0)), "config.cms.depth"},
		{OpCreate, cfg(&sketchpb.SketchConfig{Name: "x", Kind: &sketchpb.SketchConfig_Cms{Cms: &sketchpb.CMSConfig{ErrorRate: 1.5, Probability: 0.1}}}), "config.cms.error_rate"},
		{OpCreate, cfg(&sketchpb.SketchConfig{Name: "x", Kind: &sketchpb.SketchConfig_Cms{Cms: &sketchpb.CMSConfig{ErrorRate: 0.1, Probability: 0}}}), "config.cms.probability"},
		{OpCreate, cfg(&sketchpb.SketchConfig{Name: "x", Kind: &sketchpb.SketchConfig_Cms{Cms: &sketchpb.CMSConfig{Width: 5, Depth: 5, ErrorRate: 0.1, Probability: 0.1}}}), "config.cms.error_rate"},
		{OpCreate, cfg(topkCfg("x", 0, 8, 7)), "config.topk.k"},
		{OpCreate, cfg(&sketchpb.SketchConfig{Name: "x", Kind: &sketchpb.SketchConfig_Topk{Topk: &sketchpb.TopKConfig{K: 3, Decay: 1.5}}}), "config.topk.decay"},
		{OpCreate, cfg(tdCfg("x", -1)), "config.tdigest.compression"},
		{OpCreate, cfg(tdCfg("x", math.Inf(1))), "config.tdigest.compression"},
		{OpDelete, &sketchpb.SketchServiceDeleteSketchRequest{}, "name"},
		{OpDelete, &sketchpb.SketchServiceDeleteSketchRequest{Name: "b", Kind: 99}, "kind"},
		{OpBloomAdd, &sketchpb.SketchServiceBloomAddRequest{Name: "b"}, "item"},
		{OpBloomAdd, &sketchpb.SketchServiceBloomAddRequest{Item: []byte("x")}, "name"},
		{OpBloomMAdd, &sketchpb.SketchServiceBloomMAddRequest{Name: "b"}, "items"},
		{OpBloomMAdd, &sketchpb.SketchServiceBloomMAddRequest{Name: "b", Items: items("a", "")}, "items[1]"},
		{OpBloomMAdd, &sketchpb.SketchServiceBloomMAddRequest{Name: "b", Items: [][]byte{bytes.Repeat([]byte("x"), 1025)}}, "items[0]"},
		{OpHLLAdd, &sketchpb.SketchServiceHLLAddRequest{Name: "h", Items: items("")}, "items[0]"},
		{OpHLLMerge, &sketchpb.SketchServiceHLLMergeRequest{Name: "h"}, "sources"},
		{OpHLLMerge, &sketchpb.SketchServiceHLLMergeRequest{Name: "h", Sources: []string{""}}, "sources[0]"},
		{OpCMSIncrBy, &sketchpb.SketchServiceCMSIncrByRequest{Name: "c"}, "increments"},
		{OpCMSIncrBy, &sketchpb.SketchServiceCMSIncrByRequest{Name: "c", Increments: inc("", 1)}, "increments[0].item"},
		{OpCMSIncrBy, &sketchpb.SketchServiceCMSIncrByRequest{Name: "c", Increments: inc("a", 0)}, "increments[0].increment"},
		{OpCMSIncrBy, &sketchpb.SketchServiceCMSIncrByRequest{Name: "c", Increments: inc("a", -3)}, "increments[0].increment"},
		{OpCMSMerge, &sketchpb.SketchServiceCMSMergeRequest{Name: "c", Sources: []string{"c"}, Weights: []int64{1, 2}}, "weights"},
		{OpCMSMerge, &sketchpb.SketchServiceCMSMergeRequest{Name: "c", Sources: []string{"c"}, Weights: []int64{0}}, "weights[0]"},
		{OpTopKAdd, &sketchpb.SketchServiceTopKAddRequest{Name: "k", Items: items("a", "")}, "items[1]"},
		{OpTopKIncrBy, &sketchpb.SketchServiceTopKIncrByRequest{Name: "k", Increments: inc("a", 0)}, "increments[0].increment"},
		{OpTDigestAdd, &sketchpb.SketchServiceTDigestAddRequest{Name: "t", Values: []float64{1, math.NaN()}}, "values[1]"},
		{OpTDigestAdd, &sketchpb.SketchServiceTDigestAddRequest{Name: "t", Values: []float64{math.Inf(-1)}}, "values[0]"},
		{OpTDigestAdd, &sketchpb.SketchServiceTDigestAddRequest{Name: "t"}, "values"},
		{OpTDigestMerge, &sketchpb.SketchServiceTDigestMergeRequest{Name: "t"}, "sources"},
		{OpTDigestReset, &sketchpb.SketchServiceTDigestResetRequest{}, "name"},
	}
	for _, w := range writes {
		r := s.apply(w.op, 1, mustMarshal(t, w.req)).(resulter).GetResult()
		if r.GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(r.GetMessage(), w.field+": ") {
			t.Errorf("op %d %v: %v, want invalid_argument naming %s", w.op, w.req, r, w.field)
		}
	}
	reads := []struct {
		r     resulter
		field string
	}{
		{s.Get(&sketchpb.SketchServiceGetSketchRequest{}), "name"},
		{s.List(&sketchpb.SketchServiceListSketchesRequest{PageSize: -1}), "page_size"},
		{s.List(&sketchpb.SketchServiceListSketchesRequest{Kind: 99}), "kind"},
		{s.List(&sketchpb.SketchServiceListSketchesRequest{Kind: -1}), "kind"},
		{s.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "b", Kind: 99}), "kind"},
		{s.BloomExists(&sketchpb.SketchServiceBloomExistsRequest{Name: "b"}), "item"},
		{s.BloomMExists(&sketchpb.SketchServiceBloomMExistsRequest{Name: "b"}), "items"},
		{s.HLLCount(&sketchpb.SketchServiceHLLCountRequest{Name: "h", Others: []string{"ok", "bad name"}}), "others[1]"},
		{s.CMSQuery(&sketchpb.SketchServiceCMSQueryRequest{Name: "c", Items: items("")}), "items[0]"},
		{s.TopKQuery(&sketchpb.SketchServiceTopKQueryRequest{Name: "k"}), "items"},
		{s.TopKList(&sketchpb.SketchServiceTopKListRequest{}), "name"},
		{s.TDigestQuantile(&sketchpb.SketchServiceTDigestQuantileRequest{Name: "t", Quantiles: []float64{0.5, 1.5}}), "quantiles[1]"},
		{s.TDigestQuantile(&sketchpb.SketchServiceTDigestQuantileRequest{Name: "t", Quantiles: []float64{-0.1}}), "quantiles[0]"},
		{s.TDigestQuantile(&sketchpb.SketchServiceTDigestQuantileRequest{Name: "t", Quantiles: []float64{math.NaN()}}), "quantiles[0]"},
		{s.TDigestCDF(&sketchpb.SketchServiceTDigestCDFRequest{Name: "t", Values: []float64{math.NaN()}}), "values[0]"},
		{s.TDigestRank(&sketchpb.SketchServiceTDigestRankRequest{Name: "t"}), "values"},
		{s.TDigestByRank(&sketchpb.SketchServiceTDigestByRankRequest{Name: "t", Ranks: []int64{-1}}), "ranks[0]"},
		{s.TDigestByRevRank(&sketchpb.SketchServiceTDigestByRevRankRequest{Name: "t"}), "ranks"},
		{s.TDigestTrimmedMean(&sketchpb.SketchServiceTDigestTrimmedMeanRequest{Name: "t", LowCutQuantile: 0.5, HighCutQuantile: 0.5}), "high_cut_quantile"},
		{s.TDigestTrimmedMean(&sketchpb.SketchServiceTDigestTrimmedMeanRequest{Name: "t", LowCutQuantile: -1, HighCutQuantile: 0.5}), "low_cut_quantile"},
		{s.TDigestMin(&sketchpb.SketchServiceTDigestMinRequest{Name: "-/-"}), "name"},
	}
	for i, rd := range reads {
		r := rd.r.GetResult()
		if r.GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(r.GetMessage(), rd.field+": ") {
			t.Errorf("read %d: %v, want invalid_argument naming %s", i, r, rd.field)
		}
	}
	if !bytes.Equal(before, snapshotBytes(t, s)) {
		t.Fatal("refused requests changed state")
	}
	// Size limits answer limit_exceeded naming the field.
	small := New(Limits{MaxSketchBytes: 1 << 10})
	for _, c := range []*sketchpb.SketchConfig{bloomCfg("x", 100_000, 0.01), cmsCfg("x", 1000, 10), topkCfg("x", 10, 1000, 10)} {
		r := apply[*sketchpb.SketchServiceCreateSketchResponse](t, small, OpCreate, &sketchpb.SketchServiceCreateSketchRequest{Config: c})
		if r.GetResult().GetResultCode() != result.CodeLimitExceeded || !strings.HasPrefix(r.GetResult().GetMessage(), "config.") {
			t.Errorf("oversized %v: %v", c, r.GetResult())
		}
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package sketch

import (
	"bytes"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type resulter interface{ GetResult() *commonpb.Result }

// apply runs one command through the same path raft uses: marshal the
// request, Apply it, and hand back the response.
func apply[R resulter](t testing.TB, s *Machine, op uint16, req proto.Message) R {
	t.Helper()
	payload, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	res := s.apply(op, 1_700_000_000_000, payload)
	r, ok := res.(R)
	if !ok {
		t.Fatalf("op %d answered %T (%v)", op, res, res)
	}
	return r
}

// mustOK applies and fails the test unless the result is a success.
func mustOK[R resulter](t testing.TB, s *Machine, op uint16, req proto.Message) R {
	t.Helper()
	r := apply[R](t, s, op, req)
	if !r.GetResult().GetSuccess() {
		t.Fatalf("op %d: %v", op, r.GetResult())
	}
	return r
}

func snapshotBytes(t testing.TB, s *Machine) []byte {
	t.Helper()
	w, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := w(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func create(t testing.TB, s *Machine, cfg *sketchpb.SketchConfig) *sketchpb.SketchInfo {
	t.Helper()
	return mustOK[*sketchpb.SketchServiceCreateSketchResponse](t, s, OpCreate, &sketchpb.SketchServiceCreateSketchRequest{Config: cfg}).GetInfo()
}

func bloomCfg(name string, capacity uint64, rate float64) *sketchpb.SketchConfig {
	return &sketchpb.SketchConfig{Name: name, Kind: &sketchpb.SketchConfig_Bloom{Bloom: &sketchpb.BloomConfig{Capacity: capacity, ErrorRate: rate}}}
}

func hllCfg(name string) *sketchpb.SketchConfig {
	return &sketchpb.SketchConfig{Name: name, Kind: &sketchpb.SketchConfig_Hll{Hll: &sketchpb.HLLConfig{}}}
}

func cmsCfg(name string, w, d uint32) *sketchpb.SketchConfig {
	return &sketchpb.SketchConfig{Name: name, Kind: &sketchpb.SketchConfig_Cms{Cms: &sketchpb.CMSConfig{Width: w, Depth: d}}}
}

func topkCfg(name string, k, w, d uint32) *sketchpb.SketchConfig {
	return &sketchpb.SketchConfig{Name: name, Kind: &sketchpb.SketchConfig_Topk{Topk: &sketchpb.TopKConfig{K: k, Width: w, Depth: d}}}
}

func tdCfg(name string, c float64) *sketchpb.SketchConfig {
	return &sketchpb.SketchConfig{Name: name, Kind: &sketchpb.SketchConfig_Tdigest{Tdigest: &sketchpb.TDigestConfig{Compression: c}}}
}

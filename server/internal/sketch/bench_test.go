package sketch

import (
	"fmt"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
)

// Server-side cost of one command or query, without gRPC and raft.

func benchItems(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "item-%d", i)
	}
	return out
}

func BenchmarkApplyBloomAdd(b *testing.B) {
	s := New(Limits{})
	create(b, s, bloomCfg("b", 1_000_000, 0.01))
	its := benchItems(1 << 16)
	payloads := make([][]byte, len(its))
	for i, it := range its {
		payloads[i] = mustMarshal(b, &sketchpb.SketchServiceBloomAddRequest{Name: "b", Item: it})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.apply(OpBloomAdd, 1, payloads[i&(len(payloads)-1)])
	}
}

func BenchmarkReadBloomExists(b *testing.B) {
	s := New(Limits{})
	create(b, s, bloomCfg("b", 1_000_000, 0.01))
	req := &sketchpb.SketchServiceBloomExistsRequest{Name: "b", Item: []byte("item-1")}
	b.ReportAllocs()
	for b.Loop() {
		s.BloomExists(req)
	}
}

func BenchmarkApplyHLLAdd(b *testing.B) {
	s := New(Limits{})
	create(b, s, hllCfg("h"))
	its := benchItems(1 << 16)
	payloads := make([][]byte, len(its))
	for i, it := range its {
		payloads[i] = mustMarshal(b, &sketchpb.SketchServiceHLLAddRequest{Name: "h", Items: [][]byte{it}})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.apply(OpHLLAdd, 1, payloads[i&(len(payloads)-1)])
	}
}

func BenchmarkReadHLLCount(b *testing.B) {
	s := New(Limits{})
	create(b, s, hllCfg("h"))
	mustOK[*sketchpb.SketchServiceHLLAddResponse](b, s, OpHLLAdd, &sketchpb.SketchServiceHLLAddRequest{Name: "h", Items: benchItems(50_000)})
	req := &sketchpb.SketchServiceHLLCountRequest{Name: "h"}
	b.ReportAllocs()
	for b.Loop() {
		s.HLLCount(req)
	}
}

func BenchmarkApplyTDigestAdd(b *testing.B) {
	s := New(Limits{})
	create(b, s, tdCfg("t", 0))
	payload := mustMarshal(b, &sketchpb.SketchServiceTDigestAddRequest{Name: "t", Values: []float64{1.5}})
	b.ReportAllocs()
	for b.Loop() {
		s.apply(OpTDigestAdd, 1, payload)
	}
}

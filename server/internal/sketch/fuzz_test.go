package sketch

import (
	"bytes"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
)

var fuzzOps = []uint16{OpCreate, OpDelete, OpBloomAdd, OpBloomMAdd, OpHLLAdd, OpHLLMerge, OpCMSIncrBy, OpCMSMerge,
	OpTopKAdd, OpTopKIncrBy, OpTDigestAdd, OpTDigestMerge, OpTDigestReset}

// FuzzApply feeds arbitrary payloads to every op of a state machine that
// holds one sketch of each kind: Apply must never panic, and a command it
// refuses must leave the state exactly as it was.
// Run with: go test -fuzz=FuzzApply ./internal/sketch
func FuzzApply(f *testing.F) {
	f.Add(uint8(0), mustMarshal(f, &sketchpb.SketchServiceCreateSketchRequest{Config: bloomCfg("n", 5, 0.1)}))
	f.Add(uint8(3), mustMarshal(f, &sketchpb.SketchServiceBloomMAddRequest{Name: "b", Items: items("a", "b")}))
	f.Add(uint8(6), mustMarshal(f, &sketchpb.SketchServiceCMSIncrByRequest{Name: "c", Increments: []*sketchpb.SketchIncrement{{Item: []byte("a"), Increment: 3}}}))
	f.Add(uint8(7), mustMarshal(f, &sketchpb.SketchServiceCMSMergeRequest{Name: "c", Sources: []string{"c"}, Weights: []int64{2}}))
	f.Add(uint8(9), mustMarshal(f, &sketchpb.SketchServiceTopKIncrByRequest{Name: "k", Increments: []*sketchpb.SketchIncrement{{Item: []byte("a"), Increment: 1 << 40}}}))
	f.Add(uint8(10), mustMarshal(f, &sketchpb.SketchServiceTDigestAddRequest{Name: "t", Values: []float64{1, 2, 1e300}}))
	f.Add(uint8(11), mustMarshal(f, &sketchpb.SketchServiceTDigestMergeRequest{Name: "t", Sources: []string{"t", "t2"}}))
	f.Add(uint8(5), []byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, opIdx uint8, payload []byte) {
		s := New(Limits{MaxSketchBytes: 1 << 20})
		workload(t, s, 0)
		before := snapshotBytes(t, s)
		res := s.apply(fuzzOps[int(opIdx)%len(fuzzOps)], 1, payload)
		r, ok := res.(resulter)
		if ok && r.GetResult().GetSuccess() {
			return
		}
		if !bytes.Equal(before, snapshotBytes(t, s)) {
			t.Fatalf("refused command (%v) changed state", res)
		}
	})
}

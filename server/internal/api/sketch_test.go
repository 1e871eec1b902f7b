package api

import (
	"context"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/sketch"
)

// sketchNode applies proposals straight to a state machine, recording the ops.
type sketchNode struct {
	sm  *sketch.Machine
	ops []uint16
}

func (n *sketchNode) Propose(_ context.Context, subsystem string, op uint16, payload []byte) (any, error) {
	n.ops = append(n.ops, op)
	return n.sm.Apply(fsm.Command{Subsystem: subsystem, Op: op, AtMs: 1, Payload: payload}), nil
}

func TestSketchServiceValidatesBeforeProposing(t *testing.T) {
	sm := sketch.New(SketchLimits(Limits{}))
	node := &sketchNode{sm: sm}
	svc := NewSketchService(sm, Deps{Node: node})
	ctx := context.Background()

	r, _ := svc.CreateSketch(ctx, &sketchpb.SketchServiceCreateSketchRequest{Config: &sketchpb.SketchConfig{Name: "b",
		Kind: &sketchpb.SketchConfig_Bloom{Bloom: &sketchpb.BloomConfig{Capacity: 10, ErrorRate: 2}}}})
	if r.GetResult().GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(r.GetResult().GetMessage(), "config.bloom.error_rate: ") {
		t.Fatalf("bad create: %v", r.GetResult())
	}
	a, _ := svc.TDigestAdd(ctx, &sketchpb.SketchServiceTDigestAddRequest{Name: "t"})
	if a.GetResult().GetResultCode() != result.CodeInvalidArgument {
		t.Fatalf("empty add: %v", a.GetResult())
	}
	if len(node.ops) != 0 {
		t.Fatalf("invalid requests were proposed: ops %v", node.ops)
	}

	r, _ = svc.CreateSketch(ctx, &sketchpb.SketchServiceCreateSketchRequest{Config: &sketchpb.SketchConfig{Name: "b",
		Kind: &sketchpb.SketchConfig_Bloom{Bloom: &sketchpb.BloomConfig{Capacity: 10, ErrorRate: 0.01}}}})
	if !r.GetResult().GetSuccess() || r.GetInfo().GetConfig().GetBloom().GetExpansion() != 2 {
		t.Fatalf("create: %v", r)
	}
	add, _ := svc.BloomAdd(ctx, &sketchpb.SketchServiceBloomAddRequest{Name: "b", Item: []byte("x")})
	if !add.GetAdded() {
		t.Fatalf("add: %v", add)
	}
	ex, _ := svc.BloomExists(ctx, &sketchpb.SketchServiceBloomExistsRequest{Name: "b", Item: []byte("x")})
	if !ex.GetExists() {
		t.Fatalf("exists: %v", ex)
	}
	if want := []uint16{sketch.OpCreate, sketch.OpBloomAdd}; len(node.ops) != 2 || node.ops[0] != want[0] || node.ops[1] != want[1] {
		t.Fatalf("ops %v, want %v (reads are not proposed)", node.ops, want)
	}
	// A propose failure surfaces as the response's result.
	failing := NewSketchService(sm, Deps{Node: &fakeSketchFailure{}})
	d, _ := failing.DeleteSketch(ctx, &sketchpb.SketchServiceDeleteSketchRequest{Name: "b"})
	if d.GetResult().GetResultCode() != result.CodeUnavailable {
		t.Fatalf("propose failure: %v", d.GetResult())
	}
	if g := svc.sm.Get(&sketchpb.SketchServiceGetSketchRequest{Name: "b"}); !g.GetResult().GetSuccess() {
		t.Fatal("failed delete removed the sketch")
	}
}

type fakeSketchFailure struct{}

func (fakeSketchFailure) Propose(ctx context.Context, _ string, _ uint16, _ []byte) (any, error) {
	return nil, context.Canceled
}

func TestSketchLimits(t *testing.T) {
	l := SketchLimits(Limits{MaxKeyLen: 7, MaxSketchSize: 100})
	if l.MaxItemLen != 7 || l.MaxSketchBytes != 100 || l.MaxNameLen != 256 {
		t.Fatalf("%+v", l)
	}
}

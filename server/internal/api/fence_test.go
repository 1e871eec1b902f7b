package api

import (
	"context"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// commandProposer records the whole command it is given.
type commandProposer struct {
	fakeProposer
	cmd fsm.Command
}

func (c *commandProposer) ProposeCommand(_ context.Context, cmd fsm.Command) (any, error) {
	c.cmd = cmd
	return c.res, c.err
}

func TestProposeCarriesTheFenceAndAnswersItsRefusal(t *testing.T) {
	req := &kvpb.KVServicePutRequest{RequestId: "r", Bucket: "b", Key: "k", Fence: &commonpb.Fence{Key: "leader", Token: 7}}
	refusal := result.Fail(result.CodeFenced, "fence: stale; current token 8")
	p := &commandProposer{fakeProposer: fakeProposer{res: refusal}}
	_, r := Propose[*kvpb.KVServicePutResponse](context.Background(), p, "kv", 1, req)
	if p.cmd.Fence != (fsm.Fence{Key: "leader", Token: 7}) || p.cmd.RequestID != "r" {
		t.Fatalf("proposed %+v, want the request's fence and id", p.cmd)
	}
	if r != refusal {
		t.Fatalf("answer %v, want the FSM's refusal", r)
	}
	// A fenced write is never proposed unfenced.
	plain := &fakeProposer{res: &kvpb.KVServicePutResponse{}}
	if _, r := Propose[*kvpb.KVServicePutResponse](context.Background(), plain, "kv", 1, req); r.GetResultCode() != result.CodeInternal || plain.got != nil {
		t.Fatalf("fence through a proposer that cannot carry one: %v (proposed %v)", r, plain.got != nil)
	}
}

func TestCheckFenceNamesTheField(t *testing.T) {
	for _, c := range []struct {
		f     *commonpb.Fence
		field string
	}{
		{&commonpb.Fence{Token: 1}, "fence.key"},
		{&commonpb.Fence{Key: strings.Repeat("k", 11), Token: 1}, "fence.key"},
		{&commonpb.Fence{Key: "k"}, "fence.token"},
	} {
		r := checkFence(&kvpb.KVServicePutRequest{Fence: c.f}, "fence", 10)
		if r.GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(r.GetMessage(), c.field) {
			t.Errorf("fence %v: %v, want invalid_argument naming %s", c.f, r, c.field)
		}
	}
	if r := checkFence(&kvpb.KVServicePutRequest{}, "fence", 10); r != nil {
		t.Fatalf("no fence: %v", r)
	}
	if r := checkFence(&kvpb.KVServicePutRequest{Fence: &commonpb.Fence{Key: "k", Token: 1}}, "fence", 10); r != nil {
		t.Fatalf("a good fence: %v", r)
	}
}

package api

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/lock"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// applyProposer applies every proposal to the lock state machine at once,
// as a single raft node would, and counts the proposals.
type applyProposer struct {
	mu    sync.Mutex
	sm    *lock.Machine
	count map[uint16]int
}

func (p *applyProposer) Propose(_ context.Context, subsystem string, op uint16, payload []byte) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count[op]++
	res := p.sm.Apply(fsm.Command{Subsystem: subsystem, Op: op, AtMs: time.Now().UnixMilli(), Payload: payload})
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res, nil
}

func (p *applyProposer) proposals(op uint16) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[op]
}

func newLockTestService(t *testing.T) (*LockService, *applyProposer, chan struct{}) {
	sm := lock.New()
	p := &applyProposer{sm: sm, count: map[uint16]int{}}
	stopping := make(chan struct{})
	return NewLockService(sm, Deps{Node: p, Limits: DefaultLimits(), Logger: zap.NewNop(), Stopping: stopping}), p, stopping
}

func TestLockServiceValidatesBeforeProposing(t *testing.T) {
	s, p, _ := newLockTestService(t)
	ctx := context.Background()
	for field, req := range map[string]*lockpb.LockServiceTryAcquireRequest{
		"key":          {RequestId: "r"},
		"request_id":   {Key: "k"},
		"max_wait_ms":  {Key: "k", RequestId: "r", MaxWaitMs: lockMaxWaitMs + 1},
		"lease_ttl_ms": {Key: "k", RequestId: "r", LeaseTtlMs: 499},
		"mode":         {Key: "k", RequestId: "r", Mode: 3},
	} {
		resp, err := s.TryAcquire(ctx, req)
		if err != nil || resp.GetResult().GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(resp.GetResult().GetMessage(), field+": ") {
			t.Errorf("%s: %v %v", field, resp, err)
		}
	}
	if n := p.proposals(lock.OpAcquire); n != 0 {
		t.Fatalf("%d proposals for invalid requests", n)
	}
}

func TestLockServiceContendedTryWritesNothing(t *testing.T) {
	s, p, _ := newLockTestService(t)
	ctx := context.Background()
	if resp, _ := s.TryAcquire(ctx, &lockpb.LockServiceTryAcquireRequest{Key: "k", RequestId: "a"}); !resp.GetResult().GetSuccess() || resp.GetLease().GetLeaseTtlMs() != lockDefaultTTLMs {
		t.Fatal(resp)
	}
	for range 10 {
		resp, _ := s.TryAcquire(ctx, &lockpb.LockServiceTryAcquireRequest{Key: "k", RequestId: "b"})
		if resp.GetResult().GetResultCode() != result.CodeExpired || resp.GetResult().GetMessage() != lock.MsgContended {
			t.Fatal(resp)
		}
	}
	if n := p.proposals(lock.OpAcquire); n != 1 {
		t.Fatalf("%d acquire proposals, want 1 (contended tries are reads)", n)
	}
}

func TestLockServiceCancelledWaitProposesRemoval(t *testing.T) {
	s, p, _ := newLockTestService(t)
	ctx := context.Background()
	if resp, _ := s.TryAcquire(ctx, &lockpb.LockServiceTryAcquireRequest{Key: "k", RequestId: "a"}); !resp.GetResult().GetSuccess() {
		t.Fatal(resp)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan *lockpb.LockServiceTryAcquireResponse, 1)
	go func() {
		resp, _ := s.TryAcquire(wctx, &lockpb.LockServiceTryAcquireRequest{Key: "k", RequestId: "w", MaxWaitMs: 60_000})
		done <- resp
	}()
	waitUntil(t, func() bool { return s.quorum.table().Inspect("k").Waiters == 1 })
	cancel()
	resp := <-done
	if resp.GetResult().GetSuccess() {
		t.Fatal("cancelled wait succeeded")
	}
	if s.quorum.table().Inspect("k").Waiters != 0 || p.proposals(lock.OpCancel) != 1 {
		t.Fatal("the waiter was not removed through a proposal")
	}
}

func TestLockServiceWaitEndsWhenTheServerStops(t *testing.T) {
	s, _, stopping := newLockTestService(t)
	ctx := context.Background()
	if resp, _ := s.TryAcquire(ctx, &lockpb.LockServiceTryAcquireRequest{Key: "k", RequestId: "a"}); !resp.GetResult().GetSuccess() {
		t.Fatal(resp)
	}
	done := make(chan *lockpb.LockServiceTryAcquireResponse, 1)
	go func() {
		resp, _ := s.TryAcquire(ctx, &lockpb.LockServiceTryAcquireRequest{Key: "k", RequestId: "w", MaxWaitMs: 60_000})
		done <- resp
	}()
	waitUntil(t, func() bool { return s.quorum.table().Inspect("k").Waiters == 1 })
	close(stopping)
	if resp := <-done; resp.GetResult().GetResultCode() != result.CodeUnavailable {
		t.Fatal(resp)
	}
}

func TestLockServiceLocalExpiresOnItsOwnTimer(t *testing.T) {
	s, p, _ := newLockTestService(t)
	ctx := context.Background()
	resp, _ := s.TryAcquire(ctx, &lockpb.LockServiceTryAcquireRequest{Key: "k", RequestId: "a", Scope: lockpb.LockScope_LOCK_SCOPE_LOCAL, LeaseTtlMs: 500})
	lease := resp.GetLease()
	if !resp.GetResult().GetSuccess() || !strings.HasPrefix(lease.GetLeaseId(), localLeasePrefix) || lease.GetScope() != lockpb.LockScope_LOCK_SCOPE_LOCAL {
		t.Fatal(resp)
	}
	if lease.GetGrants()[0].GetFenceToken() < uint64(time.Now().Add(-time.Hour).UnixMicro()) {
		t.Fatal("local fence tokens should start from the boot time")
	}
	w := s.local.table().Watch("a")
	defer w.Stop()
	for len(s.local.table().Inspect("k").GetHolders()) != 0 {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := w.Wait(wctx)
		cancel()
		if err != nil {
			t.Fatal("local lease did not expire")
		}
	}
	if p.proposals(lock.OpAcquire) != 0 {
		t.Fatal("a local lock went through raft")
	}
	rn, _ := s.Renew(ctx, &lockpb.LockServiceRenewRequest{LeaseId: lease.GetLeaseId(), RequestId: "a"})
	if rn.GetResult().GetResultCode() != result.CodeLeaseExpired {
		t.Fatal(rn)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		<-time.After(2 * time.Millisecond)
	}
}

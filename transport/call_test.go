package transport

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
)

func TestCallRetriesIdempotentOnUnavailable(t *testing.T) {
	svc := &seqService{doResults: []doResult{{code: codes.Unavailable}, {result: &commonpb.Result{ResultCode: CodeNotLeader}}}}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)
	resp, err := Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	if err != nil || !resp.GetResult().GetSuccess() {
		t.Fatalf("Call = %v, %v; want success after two retries", resp.GetResult(), err)
	}
	if n := svc.doCalls.Load(); n != 3 {
		t.Fatalf("server saw %d calls, want 3", n)
	}
}

func TestCallOnceDoesNotRetryUnavailable(t *testing.T) {
	svc := &seqService{doResults: []doResult{{code: codes.Unavailable}}}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)
	_, err := Call(context.Background(), conn, Once, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Call = %v, want Unavailable", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRPC {
		t.Fatalf("Call error %#v, want Kind rpc", err)
	}
	if n := svc.doCalls.Load(); n != 1 {
		t.Fatalf("server saw %d calls, want 1: a non-idempotent call must not be resent", n)
	}
}

func TestCallOnceRetriesNotLeader(t *testing.T) {
	// not_leader means nothing was applied, so even a non-idempotent call
	// may be sent again.
	svc := &seqService{doResults: []doResult{{result: &commonpb.Result{ResultCode: CodeNotLeader}}}}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)
	if _, err := Call(context.Background(), conn, Once, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) }); err != nil {
		t.Fatalf("Call = %v", err)
	}
	if n := svc.doCalls.Load(); n != 2 {
		t.Fatalf("server saw %d calls, want 2", n)
	}
}

func TestCallMapsServerResult(t *testing.T) {
	svc := &seqService{doResults: []doResult{{result: &commonpb.Result{ResultCode: CodeExpired, Message: "contended"}}}}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)
	_, err := Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	if !IsServerCode(err, "expired") || !errors.Is(err, ErrExpired) {
		t.Fatalf("Call = %v, want server code expired", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindServer || e.Message != "contended" {
		t.Fatalf("Call error %#v, want Kind server with the server's message", err)
	}
	if n := svc.doCalls.Load(); n != 1 {
		t.Fatalf("a refused call was sent %d times, want 1", n)
	}
}

func TestCallCancelledContext(t *testing.T) {
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Call(ctx, conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Call with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestCallGivesUpWhenServerIsGone(t *testing.T) {
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc)
	s.stop()
	conn, err := Dial(context.Background(), []string{s.addr}, WithBackoff(Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, MaxElapsed: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Call to a stopped server = %v, want Unavailable once the backoff budget is spent", err)
	}
}

func TestCallAfterCloseIsErrClosed(t *testing.T) {
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)
	_ = conn.Close()
	_, err := Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after Close = %v, want ErrClosed", err)
	}
	if conn.Go(func(context.Context) {}) {
		t.Fatal("Go after Close started a goroutine")
	}
}

func TestRoundRobinOverSeveralAddresses(t *testing.T) {
	a, b := &seqService{}, &seqService{}
	sa, sb := serve(t, "127.0.0.1:0", a), serve(t, "127.0.0.1:0", b)
	conn, err := Dial(context.Background(), []string{sa.addr, sb.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 20 {
		if _, err := Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) }); err != nil {
			t.Fatal(err)
		}
	}
	if a.doCalls.Load() == 0 || b.doCalls.Load() == 0 {
		t.Fatalf("calls split %d/%d: want both servers used", a.doCalls.Load(), b.doCalls.Load())
	}
}

// A node that cannot reach the leader answers Unavailable naming it; the
// retry, and the calls after it, go to that leader, not back to the node.
// Both shapes: a gRPC Unavailable (routing found no leader within the
// hold) and a Result "unavailable" (a read barrier that gave up).
func TestCallFollowsTheLeaderAnUnavailableNames(t *testing.T) {
	t.Run("status", func(t *testing.T) {
		testCallFollowsHint(t, func(addr string) doResult { return doResult{code: codes.Unavailable, hint: addr} })
	})
	t.Run("result", func(t *testing.T) {
		testCallFollowsHint(t, func(addr string) doResult {
			return doResult{result: &commonpb.Result{ResultCode: CodeUnavailable, Message: "no leader", LeaderHint: addr}}
		})
	})
}

func testCallFollowsHint(t *testing.T, refusal func(leaderAddr string) doResult) {
	leader := &seqService{}
	ls := serve(t, "127.0.0.1:0", leader)
	cut := &seqService{}
	for range 10 {
		cut.doResults = append(cut.doResults, refusal(ls.addr))
	}
	cs := serve(t, "127.0.0.1:0", cut)
	conn := dialTest(t, cs.addr)
	for i := range 5 {
		resp, err := Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
		if err != nil || !resp.GetResult().GetSuccess() {
			t.Fatalf("call %d = %v, %v; want success from the named leader", i, resp.GetResult(), err)
		}
	}
	if n, m := cut.doCalls.Load(), leader.doCalls.Load(); n != 1 || m != 5 {
		t.Fatalf("the cut-off node saw %d calls and the leader %d; want 1 and 5", n, m)
	}
}

// The hint reaches the caller's error too, so code that routes for itself
// can use it.
func TestUnavailableCarriesTheLeaderHint(t *testing.T) {
	svc := &seqService{doResults: []doResult{{code: codes.Unavailable, hint: "10.0.0.7:8818"}}}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)
	_, err := Call(context.Background(), conn, Once, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || e.LeaderHint != "10.0.0.7:8818" {
		t.Fatalf("Call = %#v; want Unavailable with LeaderHint 10.0.0.7:8818", err)
	}
}

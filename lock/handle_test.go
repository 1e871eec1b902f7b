package lock

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// quietLockService grants every TryAcquire with the requested TTL and
// never renews or ends a lease on its own: its event streams stay open
// and silent, as a server's do for a healthy lease. It reports each
// event stream it opens and each Release it answers.
type quietLockService struct {
	lockpb.UnimplementedLockServiceServer
	streams  chan *lockpb.LockServiceAcquireRequest
	released chan *lockpb.LockServiceReleaseRequest
	// stall, while set, makes Release answer nothing until the caller
	// gives up.
	stall atomic.Bool
}

func (s *quietLockService) TryAcquire(_ context.Context, req *lockpb.LockServiceTryAcquireRequest) (*lockpb.LockServiceTryAcquireResponse, error) {
	now := time.Now()
	return &lockpb.LockServiceTryAcquireResponse{Result: &commonpb.Result{Success: true}, Lease: &lockpb.LockLease{
		LeaseId: "lease-" + req.GetRequestId(), RequestId: req.GetRequestId(),
		Grants:           []*lockpb.LockGrant{{Key: req.GetKey(), Mode: req.GetMode(), FenceToken: 7}},
		LeaseExpiresAtMs: now.Add(time.Duration(req.GetLeaseTtlMs()) * time.Millisecond).UnixMilli(),
		LeaseTtlMs:       req.GetLeaseTtlMs(), GrantedAtMs: now.UnixMilli(),
	}}, nil
}

func (s *quietLockService) Acquire(req *lockpb.LockServiceAcquireRequest, st grpc.ServerStreamingServer[lockpb.LockServiceAcquireResponse]) error {
	s.streams <- req
	<-st.Context().Done()
	return nil
}

func (s *quietLockService) Release(ctx context.Context, req *lockpb.LockServiceReleaseRequest) (*lockpb.LockServiceReleaseResponse, error) {
	if s.stall.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	s.released <- req
	return &lockpb.LockServiceReleaseResponse{Result: &commonpb.Result{Success: true}}, nil
}

// startQuiet serves a quietLockService on loopback and returns a client
// on it; the test's cleanup closes both.
func startQuiet(t *testing.T) (*Client, *transport.Conn, *quietLockService) {
	t.Helper()
	svc := &quietLockService{streams: make(chan *lockpb.LockServiceAcquireRequest, 8), released: make(chan *lockpb.LockServiceReleaseRequest, 8)}
	c, conn := serveLock(t, func(srv *grpc.Server) { lockpb.RegisterLockServiceServer(srv, svc) })
	return c, conn, svc
}

// serveLock serves what register registers on loopback and returns a
// client on it; the test's cleanup closes both.
func serveLock(t *testing.T, register func(*grpc.Server)) (*Client, *transport.Conn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	served := make(chan struct{})
	go func() { _ = srv.Serve(lis); close(served) }()
	conn, err := transport.Dial(context.Background(), []string{lis.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		<-served
	})
	return New(conn), conn
}

func ended(t *testing.T, l *Lock, within time.Duration) {
	t.Helper()
	select {
	case <-l.Done():
	case <-time.After(within):
		t.Fatalf("lock did not end within %v: %+v", within, l.State())
	}
}

// A lock held past the stream delay opens its event stream by re-issuing
// its own request id as a recovery, and Unlock ends that stream.
func TestLockHeldOpensItsEventStreamAsARecovery(t *testing.T) {
	c, _, svc := startQuiet(t)
	ctx := context.Background()
	l, err := c.Acquire(ctx, "k", Config{LeaseTTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-svc.streams:
		if req.GetRequestId() != l.State().RequestID || !req.GetRecoverOnly() || req.GetMaxWaitMs() != 0 || req.GetKey() != "k" {
			t.Fatalf("event stream opened with %v", req)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream of a held lock never opened")
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if rel := <-svc.released; rel.GetRequestId() != l.State().RequestID {
		t.Fatalf("released %v", rel)
	}
	ended(t, l, 5*time.Second)
	if st := l.State(); !st.Released || st.Lost {
		t.Fatalf("after Unlock: %+v", st)
	}
	// goleak (TestMain) checks that the stream's goroutine has ended.
}

// With no renewal, the client gives the lease up at its TTL on its own
// clock even though the server says nothing, and watchers made before
// and after the loss all see it.
func TestLockUnconfirmedLeaseIsLostAtItsDeadline(t *testing.T) {
	c, _, svc := startQuiet(t)
	ctx := context.Background()
	l, err := c.Acquire(ctx, "k", Config{LeaseTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	before := l.Watch()
	ended(t, l, 10*time.Second)
	select {
	case <-before:
	default:
		t.Fatal("a Watch taken before the loss did not fire")
	}
	select {
	case <-l.Watch():
	default:
		t.Fatal("Watch of a lost lock is not closed")
	}
	if !l.IsLost() || !errors.Is(l.Err(), transport.ErrLockLost) || !transport.IsServerCode(l.Err(), transport.CodeLeaseExpired) {
		t.Fatalf("after the deadline: %+v", l.State())
	}
	// Only the client gave up, so Unlock still asks the server to release,
	// and reports the loss.
	if err := l.Unlock(ctx); !errors.Is(err, transport.ErrLockLost) {
		t.Fatalf("Unlock of a locally lost lock: %v", err)
	}
	if rel := <-svc.released; rel.GetLeaseId() != l.State().LeaseID {
		t.Fatalf("released %v", rel)
	}
}

// Closing the connection makes a lock lost with ErrClosed, also when it
// comes before the event stream has opened.
func TestLockCloseBeforeTheStreamOpensMarksItLost(t *testing.T) {
	c, conn, _ := startQuiet(t)
	l, err := c.Acquire(context.Background(), "k", Config{LeaseTTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := l.Done()
	_ = conn.Close()
	if !l.IsLost() {
		t.Fatalf("not lost once Close returned: %+v", l.State())
	}
	ended(t, l, 5*time.Second)
	select {
	case <-done:
	default:
		t.Fatal("a Done channel taken before the loss is not closed")
	}
	if !errors.Is(l.Err(), transport.ErrClosed) {
		t.Fatalf("after Close: %+v", l.State())
	}
}

// A single-key lock keeps its key, mode, grant and request id in the
// handle itself; what it hands out are copies.
func TestLockSingleKeyHandleKeepsItsState(t *testing.T) {
	c, _, _ := startQuiet(t)
	ctx := context.Background()
	l, err := c.AcquireRead(ctx, "reader", Config{LeaseTTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st := l.State()
	if st.Key != "reader" || st.Mode != Shared || st.FenceToken != 7 || len(st.Grants) != 1 || st.Grants[0] != (Grant{Key: "reader", Mode: Shared, FenceToken: 7}) || len(st.RequestID) != 36 {
		t.Fatalf("state %+v", st)
	}
	// Callers own the copies they get.
	gs := l.Grants()
	gs[0].FenceToken = 99
	if l.FenceToken() != 7 {
		t.Fatal("Grants returned the lock's own slice")
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if l.State().RequestID != st.RequestID {
		t.Fatal("the request id changed")
	}
}

// An Unlock that gets no answer (here its context runs out) leaves the
// lock held, not lost nor released: its watchers keep waiting, and a
// later Unlock releases it.
func TestLockUnlockWithoutAnAnswerLeavesItHeld(t *testing.T) {
	c, _, svc := startQuiet(t)
	ctx := context.Background()
	l, err := c.Acquire(ctx, "k", Config{LeaseTTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := l.Done()
	svc.stall.Store(true)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = l.Unlock(short)
	cancel()
	if err == nil || transport.IsServerCode(err, transport.CodeLeaseExpired) || transport.IsServerCode(err, transport.CodeNotOwner) {
		t.Fatalf("Unlock with no answer: %v, want the call's failure", err)
	}
	if st := l.State(); st.Lost || st.Released || st.Err != nil {
		t.Fatalf("after an unanswered Unlock: %+v", st)
	}
	select {
	case <-done:
		t.Fatal("Done closed although the lock is still held")
	default:
	}
	svc.stall.Store(false)
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if rel := <-svc.released; rel.GetRequestId() != l.State().RequestID {
		t.Fatalf("released %v", rel)
	}
	ended(t, l, 5*time.Second)
	if st := l.State(); !st.Released || st.Lost {
		t.Fatalf("after the second Unlock: %+v", st)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatalf("Unlock of a released lock: %v", err)
	}
}

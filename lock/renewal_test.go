package lock

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// renewingLockService is a quietLockService that also answers Renew,
// counting the renewals, or holds each Renew until its caller gives up
// while stall is set.
type renewingLockService struct {
	*quietLockService
	renewals atomic.Int64
	renewing chan struct{} // a Renew arrived (buffered, never blocks)
	stallRen atomic.Bool
}

func (s *renewingLockService) Renew(ctx context.Context, req *lockpb.LockServiceRenewRequest) (*lockpb.LockServiceRenewResponse, error) {
	s.renewals.Add(1)
	select {
	case s.renewing <- struct{}{}:
	default:
	}
	if s.stallRen.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &lockpb.LockServiceRenewResponse{Result: &commonpb.Result{Success: true}, Lease: &lockpb.LockLease{
		LeaseId: req.GetLeaseId(), LeaseExpiresAtMs: time.Now().Add(time.Duration(req.GetLeaseTtlMs()) * time.Millisecond).UnixMilli(),
	}}, nil
}

func startRenewing(t *testing.T) (*Client, *transport.Conn, *renewingLockService) {
	t.Helper()
	svc := &renewingLockService{quietLockService: &quietLockService{
		streams: make(chan *lockpb.LockServiceAcquireRequest, 64), released: make(chan *lockpb.LockServiceReleaseRequest, 64)},
		renewing: make(chan struct{}, 1)}
	c, conn := serveLock(t, func(srv *grpc.Server) { lockpb.RegisterLockServiceServer(srv, svc) })
	return c, conn, svc
}

func waitRenew(t *testing.T, svc *renewingLockService) {
	t.Helper()
	select {
	case <-svc.renewing:
	case <-time.After(10 * time.Second):
		t.Fatal("no renewal reached the server within 10s")
	}
}

// A renewal waiting for its next interval holds a timer, not a goroutine:
// 50 held locks with their renewals cost no goroutine beyond the locks'.
func TestRenewalHoldsNoGoroutineBetweenRenewals(t *testing.T) {
	c, _, svc := startRenewing(t)
	ctx := context.Background()
	const n = 50
	locks := make([]*Lock, n)
	for i := range locks {
		l, err := c.Acquire(ctx, "k"+string(rune('a'+i)), Config{LeaseTTL: 60 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		locks[i] = l
	}
	for range n { // every event stream is open: the locks are idle
		select {
		case <-svc.streams:
		case <-time.After(10 * time.Second):
			t.Fatal("an event stream did not open")
		}
	}
	before := runtime.NumGoroutine()
	rs := make([]*Renewal, n)
	for i, l := range locks {
		rs[i] = l.SpawnRenewal(30 * time.Second)
	}
	if after := runtime.NumGoroutine(); after-before >= n/2 {
		t.Fatalf("%d renewals waiting for their interval added %d goroutines, want none per renewal", n, after-before)
	}
	for _, r := range rs {
		r.Stop()
		if r.Err() != nil {
			t.Fatalf("Err after Stop = %v", r.Err())
		}
	}
	if got := svc.renewals.Load(); got != 0 {
		t.Fatalf("%d renewals before the first interval", got)
	}
}

// Renewals come every interval until Stop, and none after it.
func TestRenewalRenewsEveryIntervalUntilStop(t *testing.T) {
	c, _, svc := startRenewing(t)
	l, err := c.Acquire(context.Background(), "k", Config{LeaseTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := l.SpawnRenewal(20 * time.Millisecond)
	for range 3 {
		waitRenew(t, svc)
	}
	r.Stop()
	stopped := svc.renewals.Load()
	// A renewal due after Stop would have come within a few intervals.
	l2, err := c.Acquire(context.Background(), "k2", Config{LeaseTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r2 := l2.SpawnRenewal(20 * time.Millisecond)
	for range 5 {
		waitRenew(t, svc)
	}
	r2.Stop()
	if r.Err() != nil || r2.Err() != nil {
		t.Fatalf("Err after Stop: %v, %v", r.Err(), r2.Err())
	}
	if got := svc.renewals.Load(); got-stopped > 6 {
		t.Fatalf("%d renewals after the first Stop, want only the second renewal's (at most 6)", got-stopped)
	}
}

// Stop during a renewal in flight abandons it and returns; Close during
// one ends the renewal with ErrClosed.
func TestRenewalInFlightEndsOnStopAndOnClose(t *testing.T) {
	c, conn, svc := startRenewing(t)
	ctx := context.Background()
	svc.stallRen.Store(true)
	l, err := c.Acquire(ctx, "k", Config{LeaseTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := l.SpawnRenewal(10 * time.Millisecond)
	waitRenew(t, svc)
	stopped := make(chan struct{})
	go func() { r.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return while a renewal was in flight")
	}
	if r.Err() != nil {
		t.Fatalf("Err after Stop = %v", r.Err())
	}

	r2 := l.SpawnRenewal(10 * time.Millisecond)
	waitRenew(t, svc)
	_ = conn.Close()
	r2.Stop()
	if !errors.Is(r2.Err(), transport.ErrClosed) {
		t.Fatalf("Err after Close = %v, want ErrClosed", r2.Err())
	}
	// A renewal spawned on a closed connection ends at once, so.
	r3 := l.SpawnRenewal(10 * time.Millisecond)
	r3.Stop()
	if !errors.Is(r3.Err(), transport.ErrClosed) {
		t.Fatalf("Err of a renewal spawned after Close = %v, want ErrClosed", r3.Err())
	}
}

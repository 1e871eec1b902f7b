package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// waitFor waits until cond holds, polling with a deadline; it fails the
// test with what when the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// waitDone waits for the lock to end (lost or released).
func waitDone(t testing.TB, l *waymaker.Lock, d time.Duration) {
	t.Helper()
	select {
	case <-l.Done():
	case <-time.After(d):
		t.Fatalf("lock %s did not end within %v: %+v", l.Key(), d, l.State())
	}
}

// holdsFor checks that the lock stays held for d: it must not end.
func holdsFor(t testing.TB, l *waymaker.Lock, d time.Duration) {
	t.Helper()
	select {
	case <-l.Done():
		t.Fatalf("lock %s ended while it should be held: %+v", l.Key(), l.State())
	case <-time.After(d):
	}
}

func inspect(t testing.TB, c *waymaker.Client, key string, scope waymaker.LockScope) waymaker.LockInfo {
	t.Helper()
	info, err := c.Locks().Inspect(context.Background(), key, scope)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestLockTryAcquireContendedAndFenceIncreases(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	a, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if a.FenceToken() == 0 || a.IsLost() || a.Key() != key {
		t.Fatalf("fresh lock: %+v", a.State())
	}
	st := a.State()
	if st.LeaseTTL != 30*time.Second || st.Scope != waymaker.ScopeQuorum || st.Mode != waymaker.LockExclusive || st.LeaseExpiresAtMs <= time.Now().UnixMilli() {
		t.Fatalf("defaults: %+v", st)
	}
	_, err = c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 0})
	if !waymaker.IsServerCode(err, "expired") || !errors.Is(err, waymaker.ErrExpired) {
		t.Fatalf("contended try-lock: %v, want server code expired", err)
	}
	_, err = c.AcquireReadLock(ctx, key, waymaker.LockConfig{})
	if !waymaker.IsServerCode(err, "expired") {
		t.Fatalf("read lock under a writer: %v", err)
	}
	info := inspect(t, c, key, waymaker.ScopeQuorum)
	if len(info.Holders) != 1 || info.Holders[0].FenceToken != a.FenceToken() || info.LastFenceToken != a.FenceToken() {
		t.Fatalf("inspect: %+v", info)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatalf("second Unlock of a released lock: %v", err)
	}
	if !a.State().Released || a.IsLost() {
		t.Fatalf("after Unlock: %+v", a.State())
	}
	select {
	case <-a.Watch():
	default:
		t.Fatal("Watch of a released lock is not closed")
	}
	b, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if b.FenceToken() <= a.FenceToken() {
		t.Fatalf("fence %d after %d", b.FenceToken(), a.FenceToken())
	}
	if err := b.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if info := inspect(t, c, key, waymaker.ScopeQuorum); len(info.Holders) != 0 || info.Waiters != 0 || info.LastFenceToken < b.FenceToken() {
		t.Fatalf("after unlock: %+v", info)
	}
}

func TestLockWaitsFIFOAndGetsTheKey(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	a, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		l   *waymaker.Lock
		err error
	}
	got := make(chan res, 2)
	go func() {
		l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 20 * time.Second})
		got <- res{l, err}
	}()
	waitFor(t, 10*time.Second, "the first waiter to queue", func() bool { return inspect(t, c, key, waymaker.ScopeQuorum).Waiters == 1 })
	go func() {
		l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 20 * time.Second})
		got <- res{l, err}
	}()
	waitFor(t, 10*time.Second, "the second waiter to queue", func() bool { return inspect(t, c, key, waymaker.ScopeQuorum).Waiters == 2 })
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	first := <-got
	if first.err != nil {
		t.Fatal(first.err)
	}
	if first.l.FenceToken() != a.FenceToken()+1 {
		t.Fatalf("first waiter fence %d, holder had %d", first.l.FenceToken(), a.FenceToken())
	}
	if err := first.l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	second := <-got
	if second.err != nil {
		t.Fatal(second.err)
	}
	if second.l.FenceToken() != first.l.FenceToken()+1 {
		t.Fatal("FIFO order broken")
	}
	_ = second.l.Unlock(ctx)
}

func TestLockWaitRunsOutWithExpired(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	a, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Unlock(ctx)
	_, err = c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 300 * time.Millisecond})
	if !waymaker.IsServerCode(err, "expired") {
		t.Fatalf("wait ran out: %v", err)
	}
	if info := inspect(t, c, key, waymaker.ScopeQuorum); info.Waiters != 0 {
		t.Fatalf("waiter left behind: %+v", info)
	}
}

func TestLockCancelledWaitDropsTheWaiter(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	a, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := c.AcquireLock(wctx, key, waymaker.LockConfig{MaxWait: time.Minute})
		errc <- err
	}()
	waitFor(t, 10*time.Second, "the waiter to queue", func() bool { return inspect(t, c, key, waymaker.ScopeQuorum).Waiters == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v, want context.Canceled", err)
	}
	waitFor(t, 10*time.Second, "the server to drop the waiter", func() bool { return inspect(t, c, key, waymaker.ScopeQuorum).Waiters == 0 })
	// Releasing now grants nobody: the abandoned waiter is gone.
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if info := inspect(t, c, key, waymaker.ScopeQuorum); len(info.Holders) != 0 {
		t.Fatalf("the cancelled waiter was granted: %+v", info)
	}
}

func TestLockLeaseExpiresWithoutRenewal(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := l.Watch()
	waitDone(t, l, 10*time.Second)
	select {
	case <-w:
	default:
		t.Fatal("Watch did not fire on loss")
	}
	if !l.IsLost() || !waymaker.IsServerCode(l.Err(), "lease_expired") {
		t.Fatalf("after expiry: %+v", l.State())
	}
	select {
	case <-l.Watch():
	default:
		t.Fatal("Watch of a lost lock must stay closed")
	}
	if err := l.Unlock(ctx); !waymaker.IsServerCode(err, "lease_expired") {
		t.Fatalf("Unlock of an expired lock: %v, want lease_expired", err)
	}
	// The server never revives it, even when asked directly. (The client
	// counts the lease from when it sent the request, so it may give up a
	// moment before the server expires it; its Unlock then releases the
	// server's copy, which the server reports as not_owner.)
	st := l.State()
	raw := lockpb.NewLockServiceClient(c.Conn())
	resp, err := raw.Renew(ctx, &lockpb.LockServiceRenewRequest{LeaseId: st.LeaseID, RequestId: st.RequestID})
	if code := resp.GetResult().GetResultCode(); err != nil || (code != "lease_expired" && code != "not_owner") {
		t.Fatalf("renew of an expired lease: %v %v", resp, err)
	}
	n, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if n.FenceToken() <= l.FenceToken() {
		t.Fatal("fence did not increase after expiry")
	}
	_ = n.Unlock(ctx)
}

func TestLockRenewalKeepsTheLeaseThenStops(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := l.SpawnRenewal(200 * time.Millisecond)
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	exp := l.LeaseExpiresAtMs()
	select {
	case <-l.Watch(): // a renewal moved the expiry
	case <-time.After(5 * time.Second):
		t.Fatal("no renewal within 5s")
	}
	if l.LeaseExpiresAtMs() <= exp {
		t.Fatal("renewal did not move the expiry")
	}
	holdsFor(t, l, 2500*time.Millisecond) // over two TTLs
	if _, err := c.AcquireLock(ctx, key, waymaker.LockConfig{}); !waymaker.IsServerCode(err, "expired") {
		t.Fatalf("renewed lock was taken: %v", err)
	}
	r.Stop()
	r.Stop() // idempotent
	waitDone(t, l, 10*time.Second)
	if !l.IsLost() {
		t.Fatal("lease outlived its renewal")
	}
	if err := l.Unlock(ctx); !waymaker.IsServerCode(err, "lease_expired") {
		t.Fatalf("Unlock after expiry: %v", err)
	}
}

func TestLockRenewalIntervalMustBeBelowTTL(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	l, err := c.AcquireLock(ctx, name(t), waymaker.LockConfig{LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(ctx)
	for _, iv := range []time.Duration{0, -time.Second, time.Second, 2 * time.Second} {
		r := l.SpawnRenewal(iv)
		var werr *waymaker.Error
		if err := r.Err(); !errors.As(err, &werr) || werr.Kind != "invalid" || !strings.Contains(werr.Message, "interval") {
			t.Fatalf("SpawnRenewal(%v): %v", iv, err)
		}
		r.Stop()
	}
}

func TestLockLostWhenTheServerForgetsIt(t *testing.T) {
	// A server restarted without a data dir has forgotten every lease: the
	// handle's rebind (same request id, MaxWait 0) must not turn into a
	// fresh grant, and the lock is lost.
	srv, c := startEmbedded(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	waitDone(t, l, 10*time.Second)
	if !l.IsLost() || !waymaker.IsServerCode(l.Err(), "lease_expired") {
		t.Fatalf("after the server forgot the lease: %+v", l.State())
	}
	if info := inspect(t, c, key, waymaker.ScopeQuorum); len(info.Holders) != 0 {
		t.Fatalf("the rebind made a new grant: %+v", info)
	}
}

func TestLockRebindAcrossRestartKeepsTheFence(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, 60*time.Second)
	key := name(t)
	l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	before := l.State()
	srv.Restart()
	// After the restart the server still holds the lease; the handle's
	// stream rebinds to it and follows its events again: a renewal now
	// arrives as a RENEWED event too.
	r := l.SpawnRenewal(200 * time.Millisecond)
	defer r.Stop()
	exp := l.LeaseExpiresAtMs()
	waitFor(t, 10*time.Second, "a renewal after the restart", func() bool { return l.LeaseExpiresAtMs() > exp })
	holdsFor(t, l, 500*time.Millisecond)
	after := l.State()
	if after.FenceToken != before.FenceToken || after.LeaseID != before.LeaseID || after.Lost {
		t.Fatalf("before %+v after %+v", before, after)
	}
	if _, err := c.AcquireLock(ctx, key, waymaker.LockConfig{}); !waymaker.IsServerCode(err, "expired") {
		t.Fatalf("lock free after restart: %v", err)
	}
	// The rebound stream is live: a release made behind the handle's back
	// (same lease, same request id) reaches it as an event.
	raw := lockpb.NewLockServiceClient(c.Conn())
	if resp, err := raw.Release(ctx, &lockpb.LockServiceReleaseRequest{LeaseId: after.LeaseID, RequestId: after.RequestID}); err != nil || !resp.GetResult().GetSuccess() {
		t.Fatal(resp, err)
	}
	waitDone(t, l, 10*time.Second)
	if !l.IsLost() || !waymaker.IsServerCode(l.Err(), "not_owner") {
		t.Fatalf("release elsewhere: %+v", l.State())
	}
	if err := l.Unlock(ctx); !waymaker.IsServerCode(err, "not_owner") {
		t.Fatalf("Unlock of a lock released elsewhere: %v", err)
	}
	n, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if n.FenceToken() <= before.FenceToken {
		t.Fatal("fence did not increase")
	}
	_ = n.Unlock(ctx)
}

func TestLockFenceIncreasesAcrossRestartsAndSnapshots(t *testing.T) {
	// A tiny snapshot threshold makes raft snapshot (and a restart restore
	// from a snapshot) while the test runs.
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir(), waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.SnapshotThreshold = 4
		cfg.SnapshotInterval = 5 * time.Millisecond
	}))
	ctx := testCtx(t, 60*time.Second)
	key, other := name(t), name(t)+"-other"
	var last uint64
	for round := range 4 {
		for range 10 {
			l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if l.FenceToken() <= last {
				t.Fatalf("round %d: fence %d after %d", round, l.FenceToken(), last)
			}
			last = l.FenceToken()
			if err := l.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			// Churn on another key moves the shared floor too.
			o, err := c.AcquireLock(ctx, other, waymaker.LockConfig{})
			if err != nil {
				t.Fatal(err)
			}
			_ = o.Unlock(ctx)
		}
		srv.Restart()
	}
	if info := inspect(t, c, key, waymaker.ScopeQuorum); info.LastFenceToken < last {
		t.Fatalf("last fence %d < %d", info.LastFenceToken, last)
	}
}

// fenced is a resource that accepts a write only with a token at least as
// high as every token it has seen, and records overlapping holders.
type fenced struct {
	mu     sync.Mutex
	last   uint64
	writes int
	inside atomic.Int32
}

func (f *fenced) write(token uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token <= f.last {
		return fmt.Errorf("stale fence token %d (last %d)", token, f.last)
	}
	f.last = token
	f.writes++
	return nil
}

func TestLockContendedHoldersNeverOverlap(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 120*time.Second)
	key := name(t)
	const workers, rounds = 6, 15
	var res fenced
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 30 * time.Second, LeaseTTL: 10 * time.Second})
				if err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
				if res.inside.Add(1) != 1 {
					errs <- fmt.Errorf("two holders at once")
				}
				if err := res.write(l.FenceToken()); err != nil {
					errs <- err
				}
				res.inside.Add(-1)
				if err := l.Unlock(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if res.writes != workers*rounds {
		t.Fatalf("writes = %d, want %d", res.writes, workers*rounds)
	}
}

func TestLockReadersShareAndAWaitingWriterIsNotStarved(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	r1, err := c.AcquireReadLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.AcquireReadLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	if r1.FenceToken() == r2.FenceToken() || r2.State().Mode != waymaker.LockShared {
		t.Fatalf("readers: %+v %+v", r1.State(), r2.State())
	}
	wc := make(chan *waymaker.Lock, 1)
	go func() {
		w, err := c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		wc <- w
	}()
	waitFor(t, 10*time.Second, "the writer to queue", func() bool { return inspect(t, c, key, waymaker.ScopeQuorum).Waiters == 1 })
	// A reader arriving after the waiting writer does not get in.
	if _, err := c.AcquireReadLock(ctx, key, waymaker.LockConfig{}); !waymaker.IsServerCode(err, "expired") {
		t.Fatalf("late reader: %v, want expired", err)
	}
	rc := make(chan *waymaker.Lock, 1)
	go func() {
		r, err := c.AcquireReadLock(ctx, key, waymaker.LockConfig{MaxWait: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		rc <- r
	}()
	waitFor(t, 10*time.Second, "the late reader to queue", func() bool { return inspect(t, c, key, waymaker.ScopeQuorum).Waiters == 2 })
	_ = r1.Unlock(ctx)
	_ = r2.Unlock(ctx)
	w := <-wc
	if w == nil {
		t.FailNow()
	}
	if info := inspect(t, c, key, waymaker.ScopeQuorum); len(info.Holders) != 1 || info.Holders[0].Mode != waymaker.LockExclusive {
		t.Fatalf("writer should hold alone: %+v", info)
	}
	_ = w.Unlock(ctx)
	r3 := <-rc
	if r3 == nil || r3.FenceToken() <= w.FenceToken() {
		t.Fatal("late reader should follow the writer")
	}
	_ = r3.Unlock(ctx)
}

func TestLockMultiLockAllOrNone(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	base := name(t)
	a, b, x := base+"-a", base+"-b", base+"-x"
	hb, err := c.AcquireLock(ctx, b, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MultiLock(ctx, []string{a, b, x}, waymaker.LockConfig{}); !waymaker.IsServerCode(err, "expired") {
		t.Fatalf("multi over a held key: %v", err)
	}
	for _, k := range []string{a, x} {
		if info := inspect(t, c, k, waymaker.ScopeQuorum); len(info.Holders) != 0 {
			t.Fatalf("%s held after a failed MultiLock: %+v", k, info)
		}
	}
	_ = hb.Unlock(ctx)
	m, err := c.MultiLock(ctx, []string{a, b, x}, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	gs := m.Grants()
	if len(gs) != 3 || gs[0].Key != a || gs[1].Key != b || gs[2].Key != x || m.FenceToken() != gs[0].FenceToken || gs[1].FenceToken <= hb.FenceToken() {
		t.Fatalf("grants: %+v", gs)
	}
	if _, err := c.AcquireLock(ctx, x, waymaker.LockConfig{}); !waymaker.IsServerCode(err, "expired") {
		t.Fatalf("x is free under the multi-lock: %v", err)
	}
	if err := m.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{a, b, x} {
		if info := inspect(t, c, k, waymaker.ScopeQuorum); len(info.Holders) != 0 {
			t.Fatalf("%s held after Unlock: %+v", k, info)
		}
	}
}

func TestLockOverlappingMultiLocksDoNotDeadlock(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 120*time.Second)
	base := name(t)
	keys := []string{base + "-1", base + "-2", base + "-3", base + "-4"}
	orders := [][]string{
		{keys[0], keys[1], keys[2]},
		{keys[2], keys[1], keys[0]},
		{keys[3], keys[0]},
		{keys[1], keys[3], keys[2]},
	}
	var res [4]fenced
	index := map[string]int{keys[0]: 0, keys[1]: 1, keys[2]: 2, keys[3]: 3}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 8 {
				ks := orders[w%len(orders)]
				m, err := c.MultiLock(ctx, ks, waymaker.LockConfig{MaxWait: 60 * time.Second})
				if err != nil {
					errs <- err
					return
				}
				for _, g := range m.Grants() {
					r := &res[index[g.Key]]
					if r.inside.Add(1) != 1 {
						errs <- fmt.Errorf("%s: two holders at once", g.Key)
					}
					if err := r.write(g.FenceToken); err != nil {
						errs <- err
					}
				}
				for _, g := range m.Grants() {
					res[index[g.Key]].inside.Add(-1)
				}
				if err := m.Unlock(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLockLocalScope(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{Scope: waymaker.ScopeLocal, LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st.Scope != waymaker.ScopeLocal || !strings.HasPrefix(st.LeaseID, "local-") {
		t.Fatalf("local lock: %+v", st)
	}
	if _, err := c.AcquireLock(ctx, key, waymaker.LockConfig{Scope: waymaker.ScopeLocal}); !waymaker.IsServerCode(err, "expired") {
		t.Fatalf("local contention: %v", err)
	}
	// Local and quorum locks of one key name are independent.
	q, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatalf("quorum lock beside a local one: %v", err)
	}
	_ = q.Unlock(ctx)
	// Renewal, expiry and events work as for quorum locks.
	r := l.SpawnRenewal(200 * time.Millisecond)
	holdsFor(t, l, 2500*time.Millisecond)
	r.Stop()
	waitDone(t, l, 10*time.Second)
	if !waymaker.IsServerCode(l.Err(), "lease_expired") {
		t.Fatalf("local expiry: %+v", l.State())
	}
	n, err := c.AcquireLock(ctx, key, waymaker.LockConfig{Scope: waymaker.ScopeLocal, MaxWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n.FenceToken() <= l.FenceToken() {
		t.Fatal("local fence did not increase")
	}
	if info := inspect(t, c, key, waymaker.ScopeLocal); len(info.Holders) != 1 {
		t.Fatalf("inspect local: %+v", info)
	}
	if err := n.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLockLocalScopeIsLostOnRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	local, err := c.AcquireLock(ctx, key, waymaker.LockConfig{Scope: waymaker.ScopeLocal})
	if err != nil {
		t.Fatal(err)
	}
	quorum, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	waitDone(t, local, 10*time.Second)
	if !local.IsLost() {
		t.Fatal("a local lock survived its node's restart")
	}
	holdsFor(t, quorum, 300*time.Millisecond)
	n, err := c.AcquireLock(ctx, key, waymaker.LockConfig{Scope: waymaker.ScopeLocal})
	if err != nil {
		t.Fatal(err)
	}
	// Best effort across restarts: the time-based base keeps local tokens
	// increasing as long as the clock moves forward.
	if n.FenceToken() <= local.FenceToken() {
		t.Fatalf("local fence after restart %d <= %d", n.FenceToken(), local.FenceToken())
	}
	_ = n.Unlock(ctx)
	_ = quorum.Unlock(ctx)
}

func TestLockCloseMarksHeldLocksLost(t *testing.T) {
	addr := waymakertest.Start(t, withSessionMode()).Addr()
	c, err := waymaker.Connect(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 30*time.Second)
	l, err := c.AcquireLock(ctx, name(t), waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := l.SpawnRenewal(time.Second)
	_ = c.Close()
	waitDone(t, l, 5*time.Second)
	if !errors.Is(l.Err(), waymaker.ErrClosed) {
		t.Fatalf("after Close: %+v", l.State())
	}
	// The renewal ends with the lock (its one hook is on the lock's life,
	// which the Conn's close ends), and says why.
	waitFor(t, 5*time.Second, "the renewal to end with ErrClosed", func() bool { return errors.Is(r.Err(), waymaker.ErrClosed) })
	r.Stop()
}

func TestLockBadInput(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	long := strings.Repeat("k", 1025)
	cases := []struct {
		name  string
		field string
		call  func() error
	}{
		{"empty key", "key", func() error { _, err := c.AcquireLock(ctx, "", waymaker.LockConfig{}); return err }},
		{"long key", "key", func() error { _, err := c.AcquireLock(ctx, long, waymaker.LockConfig{}); return err }},
		{"bad utf8", "key", func() error { _, err := c.AcquireReadLock(ctx, "\xff", waymaker.LockConfig{}); return err }},
		{"negative ttl", "LeaseTTL", func() error {
			_, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: -time.Second})
			return err
		}},
		{"small ttl", "LeaseTTL", func() error {
			_, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: 10 * time.Millisecond})
			return err
		}},
		{"huge ttl", "LeaseTTL", func() error {
			_, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: 2 * time.Hour})
			return err
		}},
		{"negative wait", "MaxWait", func() error { _, err := c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: -1}); return err }},
		{"bad scope", "Scope", func() error { _, err := c.AcquireLock(ctx, key, waymaker.LockConfig{Scope: 7}); return err }},
		{"no keys", "keys", func() error { _, err := c.MultiLock(ctx, nil, waymaker.LockConfig{}); return err }},
		{"dup keys", "keys", func() error { _, err := c.MultiLock(ctx, []string{key, key}, waymaker.LockConfig{}); return err }},
		{"empty multi key", "keys[1]", func() error { _, err := c.MultiLock(ctx, []string{key, ""}, waymaker.LockConfig{}); return err }},
	}
	for _, tc := range cases {
		err := tc.call()
		var werr *waymaker.Error
		if !errors.As(err, &werr) || werr.Kind != "invalid" || !errors.Is(err, waymaker.ErrInvalidArgument) || !strings.HasPrefix(werr.Message, tc.field+":") {
			t.Errorf("%s: %v, want invalid naming %s", tc.name, err, tc.field)
		}
	}

	// The server validates again: call the generated stub directly.
	raw := lockpb.NewLockServiceClient(c.Conn())
	rid := "0f0e0d0c-0b0a-4908-8706-050403020100"
	try := func(req *lockpb.LockServiceTryAcquireRequest) *lockpb.LockServiceTryAcquireResponse {
		resp, err := raw.TryAcquire(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	checks := []struct {
		field string
		resp  *lockpb.LockServiceTryAcquireResponse
	}{
		{"key", try(&lockpb.LockServiceTryAcquireRequest{RequestId: rid})},
		{"key", try(&lockpb.LockServiceTryAcquireRequest{Key: long, RequestId: rid})},
		{"request_id", try(&lockpb.LockServiceTryAcquireRequest{Key: key})},
		{"lease_ttl_ms", try(&lockpb.LockServiceTryAcquireRequest{Key: key, RequestId: rid, LeaseTtlMs: -5})},
		{"lease_ttl_ms", try(&lockpb.LockServiceTryAcquireRequest{Key: key, RequestId: rid, LeaseTtlMs: 10})},
		{"lease_ttl_ms", try(&lockpb.LockServiceTryAcquireRequest{Key: key, RequestId: rid, LeaseTtlMs: 4_000_000})},
		{"max_wait_ms", try(&lockpb.LockServiceTryAcquireRequest{Key: key, RequestId: rid, MaxWaitMs: -1})},
		{"mode", try(&lockpb.LockServiceTryAcquireRequest{Key: key, RequestId: rid, Mode: 9})},
		{"scope", try(&lockpb.LockServiceTryAcquireRequest{Key: key, RequestId: rid, Scope: 9})},
	}
	for _, ch := range checks {
		r := ch.resp.GetResult()
		if r.GetSuccess() || r.GetResultCode() != "invalid_argument" || !strings.HasPrefix(r.GetMessage(), ch.field+":") {
			t.Errorf("server check %s: %v", ch.field, r)
		}
	}
	multi := func(keys []string) *lockpb.LockServiceMultiTryAcquireResponse {
		resp, err := raw.MultiTryAcquire(ctx, &lockpb.LockServiceMultiTryAcquireRequest{Keys: keys, RequestId: rid})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, keys := range [][]string{nil, {key, key}, {key, ""}} {
		if r := multi(keys).GetResult(); r.GetResultCode() != "invalid_argument" || !strings.HasPrefix(r.GetMessage(), "keys") {
			t.Errorf("server multi %q: %v", keys, r)
		}
	}
	rn, err := raw.Renew(ctx, &lockpb.LockServiceRenewRequest{RequestId: rid})
	if err != nil || rn.GetResult().GetResultCode() != "invalid_argument" || !strings.HasPrefix(rn.GetResult().GetMessage(), "lease_id:") {
		t.Errorf("server renew: %v %v", rn, err)
	}
	rl, err := raw.Release(ctx, &lockpb.LockServiceReleaseRequest{LeaseId: "1"})
	if err != nil || rl.GetResult().GetResultCode() != "invalid_argument" || !strings.HasPrefix(rl.GetResult().GetMessage(), "request_id:") {
		t.Errorf("server release: %v %v", rl, err)
	}
	st, err := raw.Acquire(ctx, &lockpb.LockServiceAcquireRequest{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.GetResult().GetResultCode() != "invalid_argument" {
		t.Errorf("server acquire stream: %v %v", first, err)
	}
	// Nothing is held or waiting afterwards.
	if info := inspect(t, c, key, waymaker.ScopeQuorum); len(info.Holders) != 0 || info.Waiters != 0 {
		t.Fatalf("bad input left state: %+v", info)
	}
	_, err = c.Locks().Inspect(ctx, "", waymaker.ScopeQuorum)
	if !errors.Is(err, transport.ErrInvalidArgument) {
		t.Fatalf("inspect empty key: %v", err)
	}
}

func TestLockRefusedRenewalMarksLostAndNeverRevives(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	key := name(t)
	l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Renew(ctx); err != nil {
		t.Fatalf("renewal of a held lock: %v", err)
	}
	// End the lease behind the handle's back; whichever notices first (the
	// renewal or the event stream), the answer is not_owner and the lock is
	// lost for good.
	st := l.State()
	raw := lockpb.NewLockServiceClient(c.Conn())
	if resp, err := raw.Release(ctx, &lockpb.LockServiceReleaseRequest{LeaseId: st.LeaseID, RequestId: st.RequestID}); err != nil || !resp.GetResult().GetSuccess() {
		t.Fatal(resp, err)
	}
	if err := l.Renew(ctx); !waymaker.IsServerCode(err, "not_owner") {
		t.Fatalf("renewal of a released lease: %v, want not_owner", err)
	}
	if !l.IsLost() {
		t.Fatal("a refused renewal did not mark the lock lost")
	}
	r := l.SpawnRenewal(time.Second)
	r.Stop()
	if err := l.Renew(ctx); !waymaker.IsServerCode(err, "not_owner") || !l.IsLost() {
		t.Fatalf("a lost lock came back: %v %+v", err, l.State())
	}
	resp, err := raw.Renew(ctx, &lockpb.LockServiceRenewRequest{LeaseId: st.LeaseID, RequestId: st.RequestID})
	if err != nil || resp.GetResult().GetSuccess() {
		t.Fatalf("the server revived a released lease: %v %v", resp, err)
	}
}

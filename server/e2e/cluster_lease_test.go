package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// Renewals are answered from the leader's memory, so the log (and every
// follower) lags the expiry the leader promised. The leader is killed
// right after such a renewal, with no renewal running: until the
// promised expiry the new leader still has the lease, with the same
// token, and refuses a contender (its re-arm covers the old leader's
// promise). A renewal spawned again keeps the lock held past a full TTL.
func TestClusterFailoverLockRenewedInMemorySurvivesLeaderKill(t *testing.T) {
	const ttl = 4 * time.Second
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	holder, contender := connectCluster(t, c), connectCluster(t, c)
	ctx := testCtx(t, 60*time.Second)
	key := name(t)
	l, err := holder.Locks().Acquire(ctx, key, lock.Config{LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	token, leaseID := l.FenceToken(), l.State().LeaseID
	old := c.Leader()
	follower := connect(t, c.Addrs()[(old+1)%3])

	// Renew until the leader's answer is ahead of what a follower has
	// applied: that renewal is in the leader's memory only.
	var promised int64
	waitFor(t, 10*time.Second, "a renewal in the leader's memory only", func() bool {
		if err := l.Renew(ctx); err != nil {
			t.Fatalf("renew: %v", err)
		}
		promised = l.State().LeaseExpiresAtMs
		info, err := follower.Locks().Inspect(waymaker.StaleRead(ctx), key, lock.ScopeQuorum)
		if err != nil || len(info.Holders) > 1 {
			t.Fatalf("stale inspect on a follower: %+v, %v", info, err)
		}
		// No holder yet: the follower has not applied the acquisition
		// (a stale read may lag); renew and look again.
		return len(info.Holders) == 1 && info.Holders[0].LeaseExpiresAtMs < promised
	})
	c.Kill(old)

	// Until near the promise (the renewal spawned below must confirm the
	// lease before the client's own view of its expiry passes), the lease
	// is held with its token and no contender gets it, on whichever node
	// leads now.
	refused := 0
	for time.Now().Add(ttl/4+500*time.Millisecond).UnixMilli() < promised {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		got, err := contender.Locks().Acquire(cctx, key, lock.Config{LeaseTTL: ttl})
		cancel()
		switch {
		case err == nil:
			t.Fatalf("a contender got the lock %d ms before the old leader's promise (token %d, holder's %d)", promised-time.Now().UnixMilli(), got.FenceToken(), token)
		case errors.Is(err, waymaker.ErrExpired):
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no leader refused the contender before the promise: the test did not contend")
	}
	info, err := contender.Locks().Inspect(ctx, key, lock.ScopeQuorum)
	if err != nil || len(info.Holders) != 1 || info.Holders[0].LeaseID != leaseID || info.Holders[0].FenceToken != token {
		t.Fatalf("Inspect on the new leader: %+v, %v; want the one holder %s with token %d", info, err, leaseID, token)
	}
	if info.Holders[0].LeaseExpiresAtMs < promised {
		t.Fatalf("the new leader expires the lease at %d, before the old leader's promise %d", info.Holders[0].LeaseExpiresAtMs, promised)
	}

	renewal := l.SpawnRenewal(ttl / 4)
	defer renewal.Stop()
	resumed := time.Now()
	waitFor(t, 3*ttl, "renewals on the new leader past a full TTL", func() bool {
		if l.IsLost() {
			t.Fatalf("the lock was lost after the kill: %+v", l.State())
		}
		return time.Since(resumed) > ttl+ttl/2 && l.State().LeaseExpiresAtMs > promised+ttl.Milliseconds()
	})
	st := l.State()
	if st.Lost || st.FenceToken != token || st.LeaseID != leaseID {
		t.Fatalf("after the kill: %+v; want held with token %d, lease %s", st, token, leaseID)
	}
	renewal.Stop()
	if err := l.Unlock(ctx); err != nil {
		t.Fatalf("unlock after the failover: %v", err)
	}
}

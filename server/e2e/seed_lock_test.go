package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// The published README's "Leader election" sample, verbatim: it must
// compile unchanged and behave as its prose says.

func runAsLeader(ctx context.Context, client *waymaker.Client) error {
	lock, err := client.AcquireLock(ctx, "leader:reports", waymaker.LockConfig{
		MaxWait:  0, // try-acquire — fail immediately if contended
		LeaseTTL: 30 * time.Second,
		Scope:    waymaker.ScopeQuorum, // Raft-replicated fence token
	})
	if waymaker.IsServerCode(err, "expired") {
		return nil // someone else is leader
	}
	if err != nil {
		return err
	}
	// Renewal runs independently of the work loop — work can legitimately
	// outlive a single lease window without renewing in-band.
	renewal := lock.SpawnRenewal(15 * time.Second)
	defer renewal.Stop()

	// Watch for state changes (fence updates, loss notifications).
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-lock.Watch():
			if lock.IsLost() {
				return fmt.Errorf("lost leadership")
			}
		default:
		}

		// Re-read fence BEFORE every fenced side effect.
		if err := doFencedWrite(ctx, lock.FenceToken()); err != nil {
			return err
		}
	}
}

func cleanup(ctx context.Context, lock *waymaker.Lock) {
	_ = lock.Unlock(ctx)
}

// leaderStore is the fenced resource the seed's leader writes to: it
// refuses a token lower than one it has seen, and tells the test about
// every write.
var leaderStore = struct {
	sync.Mutex
	last   uint64
	writes chan uint64
}{}

// doFencedWrite is the side effect the seed's loop protects: one write to
// leaderStore carrying the fence token, then a short pause (pacing the
// work loop, not synchronising anything).
func doFencedWrite(ctx context.Context, token uint64) error {
	leaderStore.Lock()
	if token < leaderStore.last {
		leaderStore.Unlock()
		return fmt.Errorf("fenced write refused: token %d is older than %d", token, leaderStore.last)
	}
	leaderStore.last = token
	ch := leaderStore.writes
	leaderStore.Unlock()
	if ch != nil {
		select {
		case ch <- token:
		default:
		}
	}
	t := time.NewTimer(2 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func TestLockSeedRunAsLeader(t *testing.T) {
	// The key is fixed by the sample, so this test embeds its own server
	// even when WAYMAKER_ADDR is set. It restarts it without a data dir,
	// which forgets the lease: the leader must notice.
	srv, leader := startEmbedded(t)
	follower := connect(t, srv.Addr())
	ctx := testCtx(t, 60*time.Second)

	writes := make(chan uint64, 1)
	leaderStore.Lock()
	leaderStore.writes, leaderStore.last = writes, 0
	leaderStore.Unlock()
	defer func() {
		leaderStore.Lock()
		leaderStore.writes = nil
		leaderStore.Unlock()
	}()

	done := make(chan error, 1)
	go func() { done <- runAsLeader(ctx, leader) }()

	// Leadership: fenced writes flow with the lock's token.
	var token uint64
	select {
	case token = <-writes:
	case err := <-done:
		t.Fatalf("runAsLeader returned before leading: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no fenced write within 10s")
	}
	if token == 0 {
		t.Fatal("fenced write without a token")
	}
	info := inspect(t, leader, "leader:reports", waymaker.ScopeQuorum)
	if len(info.Holders) != 1 || info.Holders[0].FenceToken != token {
		t.Fatalf("leader's lock: %+v, token %d", info, token)
	}

	// A second instance finds the leader and returns nil at once.
	if err := runAsLeader(ctx, follower); err != nil {
		t.Fatalf("second instance: %v, want nil (someone else leads)", err)
	}

	// Loss detection: the server forgets the lease; the leader's loop sees
	// Watch fire with IsLost and returns.
	srv.Restart()
	select {
	case err := <-done:
		if err == nil || err.Error() != "lost leadership" {
			t.Fatalf("runAsLeader = %v, want lost leadership", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("leader did not notice the loss within 20s")
	}

	// The follower takes over with a higher fence token, and cleanup
	// releases it.
	lock, err := follower.AcquireLock(ctx, "leader:reports", waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cleanup(ctx, lock)
	if !lock.State().Released {
		t.Fatalf("cleanup did not release: %+v", lock.State())
	}
	if err := lock.Unlock(ctx); err != nil {
		t.Fatalf("Unlock after cleanup: %v", err)
	}
	var werr *waymaker.Error
	if _, err := leader.AcquireLock(ctx, "", waymaker.LockConfig{}); !errors.As(err, &werr) {
		t.Fatal("want *waymaker.Error")
	}
}

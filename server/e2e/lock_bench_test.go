package e2e

import (
	"context"
	"testing"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// BenchmarkLockAcquireUnlock is the uncontended cycle: take a free key
// (one raft write), then release it (another).
func BenchmarkLockAcquireUnlock(b *testing.B) {
	benchCycle(b, waymaker.ScopeQuorum)
}

// BenchmarkLockAcquireUnlockLocal is the same cycle in LOCAL scope: no
// raft write at all.
func BenchmarkLockAcquireUnlockLocal(b *testing.B) {
	benchCycle(b, waymaker.ScopeLocal)
}

func benchCycle(b *testing.B, scope waymaker.LockScope) {
	c := start(b)
	ctx := context.Background()
	key := name(b)
	cfg := waymaker.LockConfig{Scope: scope}
	b.ReportAllocs()
	for b.Loop() {
		l, err := c.AcquireLock(ctx, key, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Unlock(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLockTryContended is a try-lock (MaxWait 0) on a held key: the
// "expired" answer a follower gets in leader election.
func BenchmarkLockTryContended(b *testing.B) {
	c := start(b)
	ctx := context.Background()
	key := name(b)
	held, err := c.AcquireLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer held.Unlock(ctx)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.AcquireLock(ctx, key, waymaker.LockConfig{}); !waymaker.IsServerCode(err, "expired") {
			b.Fatalf("contended try-lock: %v", err)
		}
	}
}

// BenchmarkLockRenew renews one held lease (a raft write), as
// SpawnRenewal does on its schedule.
func BenchmarkLockRenew(b *testing.B) {
	c := start(b)
	ctx := context.Background()
	l, err := c.AcquireLock(ctx, name(b), waymaker.LockConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Unlock(ctx)
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Renew(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

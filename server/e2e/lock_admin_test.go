package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// List pages through the held keys in order, with their holders; Revoke
// ends a holder that will not let go: its lock is lost, the next waiter
// gets the key with a higher token.
func TestLockListAndRevoke(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	prefix := name(t) + "/"
	var held []*waymaker.Lock
	for i := range 150 { // more than one page of 100
		l, err := c.AcquireLock(ctx, fmt.Sprintf("%s%03d", prefix, i), waymaker.LockConfig{LeaseTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
	}
	n := 0
	for k, err := range c.Locks().List(ctx, prefix) {
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s%03d", prefix, n); k.Key != want || len(k.Holders) != 1 || k.Holders[0].FenceToken != held[n].FenceToken() {
			t.Fatalf("key %d = %+v, want %s held with token %d", n, k, want, held[n].FenceToken())
		}
		n++
	}
	if n != 150 {
		t.Fatalf("listed %d keys, want 150", n)
	}

	victim := held[7]
	key := fmt.Sprintf("%s%03d", prefix, 7)
	next := make(chan *waymaker.Lock, 1)
	go func() {
		l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: time.Minute, MaxWait: 20 * time.Second})
		if err != nil {
			t.Error(err)
		}
		next <- l
	}()
	// Revoke once the waiter waits, so the key passes to it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.Locks().Inspect(ctx, key, waymaker.ScopeQuorum)
		if err != nil {
			t.Fatal(err)
		}
		if info.Waiters == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second acquirer never waited")
		}
		<-time.After(5 * time.Millisecond) // polling Inspect, bounded by the deadline
	}
	revoked, err := c.Locks().Revoke(ctx, key)
	if err != nil || revoked != 1 {
		t.Fatalf("Revoke = %d, %v; want 1", revoked, err)
	}
	select {
	case <-victim.Watch():
	case <-ctx.Done():
		t.Fatal("the revoked holder was not told")
	}
	if !victim.IsLost() {
		t.Fatal("the revoked lock does not report lost")
	}
	l := <-next
	if l == nil || l.FenceToken() <= victim.FenceToken() {
		t.Fatalf("the waiter's grant after Revoke: %v", l)
	}
	if revoked, err := c.Locks().Revoke(ctx, prefix+"nobody"); err != nil || revoked != 0 {
		t.Fatalf("Revoke of a free key = %d, %v", revoked, err)
	}
	if _, err := c.Locks().Revoke(ctx, ""); !errors.Is(err, waymaker.ErrInvalidArgument) {
		t.Fatalf("Revoke of an empty key: %v", err)
	}
}

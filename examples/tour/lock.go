package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

func init() {
	register(10, "locks: leases, fence tokens, shared locks, MultiLock, leader election", tourLock)
}

// tourLock takes a lock, shows a contended try failing with "expired",
// shares a key between readers, takes several keys at once, renews a lease
// in the background, and lets one expire.
func tourLock(ctx context.Context, c *waymaker.Client) error {
	key := fmt.Sprintf("tour-lock-%d", time.Now().UnixNano())

	// Leader election, as the README does it: try once, renew on the side.
	l, err := c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 0, LeaseTTL: 2 * time.Second})
	if err != nil {
		return err
	}
	fmt.Printf("AcquireLock %s -> fence token %d, lease expires in %v\n", key, l.FenceToken(), fromNow(l.LeaseExpiresAtMs()))
	_, err = c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 0})
	if !waymaker.IsServerCode(err, "expired") {
		return fmt.Errorf("contended try-lock answered %v, want expired", err)
	}
	fmt.Printf("AcquireLock again while held (MaxWait 0) -> %v\n", err)

	renewal := l.SpawnRenewal(500 * time.Millisecond)
	before := l.LeaseExpiresAtMs()
	select {
	case <-l.Watch():
	case <-time.After(5 * time.Second):
		return errors.New("no renewal within 5s")
	}
	fmt.Printf("SpawnRenewal(500ms) -> Watch fired, lease now expires in %v (pushed back %v)\n",
		fromNow(l.LeaseExpiresAtMs()), time.Duration(l.LeaseExpiresAtMs()-before)*time.Millisecond)
	// The renewal runs on until the Unlock below: a lease that ran out
	// while the waiter queues would hand the waiter the key early.
	defer renewal.Stop()

	// A waiter gets the key, with a higher token, as soon as it is freed.
	got := make(chan *waymaker.Lock, 1)
	go func() {
		w, err := c.AcquireLock(ctx, key, waymaker.LockConfig{MaxWait: 10 * time.Second})
		if err != nil {
			fmt.Println("waiter:", err)
		}
		got <- w
	}()
	for {
		info, err := c.Locks().Inspect(ctx, key, waymaker.ScopeQuorum)
		if err != nil {
			return err
		}
		if info.Waiters == 1 {
			break
		}
		select { // poll until the waiter has queued
		case <-time.After(10 * time.Millisecond):
		case w := <-got:
			return fmt.Errorf("the waiter got the lock (%v) before it was unlocked", w != nil)
		case <-ctx.Done():
			return fmt.Errorf("waiting for the waiter to queue: %w", ctx.Err())
		}
	}
	if err := l.Unlock(ctx); err != nil {
		return err
	}
	renewal.Stop()
	w := <-got
	if w == nil {
		return errors.New("the waiter got nothing")
	}
	fmt.Printf("Unlock -> the waiting AcquireLock(MaxWait 10s) got it with fence token %d\n", w.FenceToken())
	_ = w.Unlock(ctx)

	// Readers share a key.
	r1, err := c.AcquireReadLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		return err
	}
	r2, err := c.AcquireReadLock(ctx, key, waymaker.LockConfig{})
	if err != nil {
		return err
	}
	fmt.Printf("two AcquireReadLock on one key -> tokens %d and %d, both held\n", r1.FenceToken(), r2.FenceToken())
	_ = r1.Unlock(ctx)
	_ = r2.Unlock(ctx)

	// Several keys at once, all or none.
	m, err := c.MultiLock(ctx, []string{key + "/a", key + "/b", key}, waymaker.LockConfig{})
	if err != nil {
		return err
	}
	for _, g := range m.Grants() {
		fmt.Printf("MultiLock -> %s fence token %d\n", g.Key, g.FenceToken)
	}
	_ = m.Unlock(ctx)

	// A lease that is not renewed expires, and the handle says so.
	e, err := c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	select {
	case <-e.Done():
	case <-time.After(5 * time.Second):
		return errors.New("lease did not expire")
	}
	fmt.Printf("AcquireLock with a 500ms lease and no renewal -> IsLost=%v (%v)\n", e.IsLost(), e.Err())
	fmt.Printf("Unlock of the lost lock -> %v\n", e.Unlock(ctx))

	_, err = c.AcquireLock(ctx, key, waymaker.LockConfig{LeaseTTL: time.Millisecond})
	fmt.Printf("AcquireLock with LeaseTTL 1ms -> %v\n", err)
	return nil
}

// fromNow says when a server time in Unix milliseconds is, from now.
func fromNow(ms int64) time.Duration {
	return time.Until(time.UnixMilli(ms)).Round(10 * time.Millisecond)
}

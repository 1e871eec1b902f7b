package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// leadership is one term of office: its fence token and when it began.
type leadership struct {
	token uint64
	at    time.Time
}

// contend tries to lead until ctx ends: one try-acquire (MaxWait 0); when
// someone else leads it tries again a fifth of a TTL later; while it leads
// it works fenced, and when leadership is lost it contends again. Each time
// it becomes leader it reports to led (if not nil). It returns when ctx
// ends or the client is closed.
func contend(ctx context.Context, client *waymaker.Client, key string, ttl time.Duration, name string, led chan<- leadership) error {
	retry := ttl / 5
	for {
		lock, err := client.AcquireLock(ctx, key, waymaker.LockConfig{
			MaxWait:  0, // try-acquire: fail at once if contended
			LeaseTTL: ttl,
			Scope:    waymaker.ScopeQuorum, // raft-replicated fence token
		})
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, waymaker.ErrClosed):
			return err
		case waymaker.IsServerCode(err, "expired"):
			fmt.Printf("[%s] not leader: %s is held by someone else (expired); retrying in %v\n", name, key, retry)
		case err != nil:
			fmt.Printf("[%s] cannot reach the lock: %v; retrying in %v\n", name, err, retry)
		default:
			fmt.Printf("[%s] LEADER of %s with fence token %d (lease %v, renewed every %v)\n", name, key, lock.FenceToken(), ttl, ttl/2)
			if led != nil {
				led <- leadership{lock.FenceToken(), time.Now()}
			}
			if err := lead(ctx, lock, name, ttl); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}

// lead is the seed's leader loop: renewal in its own goroutine, Watch for
// loss, and the fence token re-read before every fenced write. It returns
// nil when leadership is lost (to contend again) and ctx's error after
// releasing the lock when the program stops.
func lead(ctx context.Context, lock *waymaker.Lock, name string, ttl time.Duration) error {
	renewal := lock.SpawnRenewal(ttl / 2)
	defer renewal.Stop()
	work := time.NewTicker(time.Second)
	defer work.Stop()
	for {
		select {
		case <-ctx.Done():
			// A clean stop hands leadership over at once instead of after a TTL.
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := lock.Unlock(uctx); err != nil {
				fmt.Printf("[%s] stopping; unlock: %v\n", name, err)
			} else {
				fmt.Printf("[%s] stopping; released %s\n", name, lock.Key())
			}
			return ctx.Err()
		case <-lock.Watch():
			if lock.IsLost() {
				fmt.Printf("[%s] LOST leadership: %v\n", name, lock.Err())
				return nil
			}
		case <-work.C:
			fmt.Printf("[%s] fenced write with token %d\n", name, lock.FenceToken())
		}
	}
}

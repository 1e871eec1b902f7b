package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// say prints one line of the story, stamped with the wall clock so two
// instances' outputs can be read side by side.
func say(format string, args ...any) {
	fmt.Printf(time.Now().Format("15:04:05.000 ")+format, args...)
}

// leadership is one term of office: its fence token and when it began.
type leadership struct {
	token uint64
	at    time.Time
}

// contend tries to lead until ctx ends or the client is closed. The first
// try is the seed's try-acquire (MaxWait 0): if another instance leads it
// fails with code "expired", and then waits in line for up to one TTL per attempt,
// so it takes over the moment a crashed leader's lease runs out. While it
// leads it works fenced; when leadership is lost it contends again. Each
// time it becomes leader it reports to led (if not nil).
func contend(ctx context.Context, client *waymaker.Client, key string, ttl time.Duration, name string, led chan<- leadership) error {
	var wait time.Duration
	for {
		lock, err := client.AcquireLock(ctx, key, waymaker.LockConfig{
			MaxWait:  wait, // 0 first: try-acquire, fail at once if contended
			LeaseTTL: ttl,
			Scope:    waymaker.ScopeQuorum, // raft-replicated fence token
		})
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, waymaker.ErrClosed):
			return err
		case waymaker.IsServerCode(err, "expired"):
			if wait == 0 {
				say("[%s] not leader: another instance holds %s (the try, MaxWait 0, answered code expired); waiting in line up to %v\n", name, key, ttl)
			} else {
				say("[%s] not leader: %s stayed held for all of %v; waiting in line again\n", name, key, wait)
			}
			wait = ttl
			continue
		case err != nil:
			say("[%s] cannot reach the lock: %v; retrying in %v\n", name, err, ttl/5)
		default:
			say("[%s] LEADER of %s with fence token %d (lease %v, renewed every %v)\n", name, key, lock.FenceToken(), ttl, ttl/2)
			if led != nil {
				led <- leadership{lock.FenceToken(), time.Now()}
			}
			if err := lead(ctx, lock, name, ttl); err != nil {
				return err
			}
			wait = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(ttl / 5):
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
				say("[%s] stopping; unlock: %v\n", name, err)
			} else {
				say("[%s] stopping; released %s\n", name, lock.Key())
			}
			return ctx.Err()
		case <-lock.Watch():
			if lock.IsLost() {
				say("[%s] LOST leadership: %v\n", name, lock.Err())
				return nil
			}
		case <-work.C:
			say("[%s] fenced write with token %d\n", name, lock.FenceToken())
		}
	}
}

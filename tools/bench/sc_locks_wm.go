package main

import (
	"context"
	"fmt"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// waymaker sides of the lock scenarios: quorum-scope locks (through raft),
// lease TTL 15 s like the etcd sessions.

const lockTTL = 15 * time.Second

func wmLockCycle(sys func(*Env) *wmSys) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		c := sys(env).c.Locks()
		prefix := env.uniq("cycle")
		keys := make([]string, p.Conc)
		for w := range keys {
			keys[w] = fmt.Sprintf("%s/%d", prefix, w)
		}
		return func(ctx context.Context, w, i int) error {
			l, err := c.Acquire(ctx, keys[w], lock.Config{LeaseTTL: lockTTL})
			if err != nil {
				return err
			}
			return l.Unlock(ctx)
		}, nil, nil
	}
}

func wmTryContended(sys func(*Env) *wmSys) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		c := sys(env).c.Locks()
		key := env.uniq("contended")
		holder, err := c.Acquire(ctx, key, lock.Config{LeaseTTL: time.Minute})
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, w, i int) error {
				l, err := c.Acquire(ctx, key, lock.Config{LeaseTTL: lockTTL})
				if transport.IsServerCode(err, transport.CodeExpired) {
					return nil
				}
				if err == nil {
					_ = l.Unlock(ctx)
					return fmt.Errorf("acquired a held lock")
				}
				return err
			}, func() {
				_ = holder.Unlock(context.Background())
			}, nil
	}
}

// wmRenew renews a held lock's lease once per operation (Lock.Renew, which
// SpawnRenewal calls on its schedule).
func wmRenew(sys func(*Env) *wmSys) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		c := sys(env).c.Locks()
		prefix := env.uniq("renew")
		locks := make([]*lock.Lock, p.Conc)
		release := func() {
			for _, l := range locks {
				if l != nil {
					_ = l.Unlock(context.Background())
				}
			}
		}
		for w := range locks {
			l, err := c.Acquire(ctx, fmt.Sprintf("%s/%d", prefix, w), lock.Config{LeaseTTL: lockTTL})
			if err != nil {
				release()
				return nil, nil, err
			}
			locks[w] = l
		}
		return func(ctx context.Context, w, i int) error {
			return locks[w].Renew(ctx)
		}, release, nil
	}
}

package main

import (
	"context"
	"fmt"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
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

// wmRenew renews a held lock's lease once per operation. The SDK renews only
// in the background (SpawnRenewal), so the operation is the same Renew RPC
// sent through the generated stub with the lock's own lease and request id.
func wmRenew(sys func(*Env) *wmSys) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		c := sys(env).c.Locks()
		rpc := lockpb.NewLockServiceClient(sys(env).c.Conn())
		prefix := env.uniq("renew")
		locks := make([]*lock.Lock, p.Conc)
		reqs := make([]*lockpb.LockServiceRenewRequest, p.Conc)
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
			st := l.State()
			reqs[w] = &lockpb.LockServiceRenewRequest{LeaseId: st.LeaseID, RequestId: st.RequestID, LeaseTtlMs: lockTTL.Milliseconds()}
		}
		conn := sys(env).c.Conn()
		return func(ctx context.Context, w, i int) error {
			_, err := transport.Call(ctx, conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceRenewResponse, error) {
				return rpc.Renew(ctx, reqs[w])
			})
			return err
		}, release, nil
	}
}

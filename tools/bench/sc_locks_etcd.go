package main

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// etcd sides of the lock scenarios: concurrency.Mutex over one session
// (lease, TTL 15 s) per worker, the recipe etcd documents for locks.

const etcdMutex = "etcd concurrency.Mutex"

// etcdOne is the single-member etcd's client; the cluster scenarios pass
// their own.
func etcdOne(e *Env) *clientv3.Client { return e.Etcd.cli }

func etcdSessions(cli *clientv3.Client, n int) ([]*concurrency.Session, func(), error) {
	var ss []*concurrency.Session
	closeAll := func() {
		for _, s := range ss {
			_ = s.Close()
		}
	}
	for range n {
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(15))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		ss = append(ss, s)
	}
	return ss, closeAll, nil
}

// etcdLockCycle: each worker locks and unlocks its own key (uncontended).
var etcdLockCycle = etcdLockCycleOn(etcdOne)

func etcdLockCycleOn(cli func(*Env) *clientv3.Client) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		return etcdLockCycleWith(ctx, env, cli(env), p)
	}
}

func etcdLockCycleWith(ctx context.Context, env *Env, cli *clientv3.Client, p Point) (Op, func(), error) {
	ss, cleanup, err := etcdSessions(cli, p.Conc)
	if err != nil {
		return nil, nil, err
	}
	prefix := env.uniq("/lock/cycle")
	ms := make([]*concurrency.Mutex, p.Conc)
	for w := range ms {
		ms[w] = concurrency.NewMutex(ss[w], fmt.Sprintf("%s/%d", prefix, w))
	}
	return func(ctx context.Context, w, i int) error {
		if err := ms[w].Lock(ctx); err != nil {
			return err
		}
		return ms[w].Unlock(ctx)
	}, cleanup, nil
}

// etcdTryContended: one holder owns the key; every worker's TryLock fails.
func etcdTryContended(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	ss, cleanup, err := etcdSessions(env.Etcd.cli, p.Conc+1)
	if err != nil {
		return nil, nil, err
	}
	key := env.uniq("/lock/contended")
	holder := concurrency.NewMutex(ss[p.Conc], key)
	if err := holder.Lock(ctx); err != nil {
		cleanup()
		return nil, nil, err
	}
	ms := make([]*concurrency.Mutex, p.Conc)
	for w := range ms {
		ms[w] = concurrency.NewMutex(ss[w], key)
	}
	return func(ctx context.Context, w, i int) error {
		err := ms[w].TryLock(ctx)
		if errors.Is(err, concurrency.ErrLocked) {
			return nil
		}
		if err == nil {
			return errors.New("TryLock succeeded on a held lock")
		}
		return err
	}, cleanup, nil
}

// etcdRenew: each worker holds a lock and renews its session's lease once
// per operation (KeepAliveOnce), the etcd counterpart of a lease renewal.
var etcdRenew = etcdRenewOn(etcdOne)

func etcdRenewOn(cli func(*Env) *clientv3.Client) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		return etcdRenewWith(ctx, env, cli(env), p)
	}
}

func etcdRenewWith(ctx context.Context, env *Env, cli *clientv3.Client, p Point) (Op, func(), error) {
	ss, cleanup, err := etcdSessions(cli, p.Conc)
	if err != nil {
		return nil, nil, err
	}
	prefix := env.uniq("/lock/renew")
	for w := range ss {
		if err := concurrency.NewMutex(ss[w], fmt.Sprintf("%s/%d", prefix, w)).Lock(ctx); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	lease := clientv3.NewLease(cli)
	return func(ctx context.Context, w, i int) error {
			_, err := lease.KeepAliveOnce(ctx, ss[w].Lease())
			return err
		}, func() {
			_ = lease.Close()
			cleanup()
		}, nil
}

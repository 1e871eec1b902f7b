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

func etcdSessions(env *Env, n int) ([]*concurrency.Session, func(), error) {
	var ss []*concurrency.Session
	closeAll := func() {
		for _, s := range ss {
			_ = s.Close()
		}
	}
	for range n {
		s, err := concurrency.NewSession(env.Etcd.cli, concurrency.WithTTL(15))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		ss = append(ss, s)
	}
	return ss, closeAll, nil
}

// etcdLockCycle: each worker locks and unlocks its own key (uncontended).
func etcdLockCycle(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	ss, cleanup, err := etcdSessions(env, p.Conc)
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
	ss, cleanup, err := etcdSessions(env, p.Conc+1)
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
func etcdRenew(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	ss, cleanup, err := etcdSessions(env, p.Conc)
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
	lease := clientv3.NewLease(env.Etcd.cli)
	return func(ctx context.Context, w, i int) error {
			_, err := lease.KeepAliveOnce(ctx, ss[w].Lease())
			return err
		}, func() {
			_ = lease.Close()
			cleanup()
		}, nil
}

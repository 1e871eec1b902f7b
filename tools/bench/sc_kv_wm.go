package main

import (
	"context"
	"errors"

	"git.awesomike.com/pub/waymaker-client/go/kv"
)

// waymaker sides of the KV scenarios: a bucket with history 1 on the
// embedded server without a data dir (or the --addr server).

const wmKV = "waymaker KV (memory)"

func wmBucket(ctx context.Context, env *Env) (*kv.Bucket, func(), error) {
	name := env.uniq("kv")
	c := env.WM.c.KeyValue()
	b, err := c.Create(ctx, kv.Config{Name: name, History: 1})
	if err != nil {
		return nil, nil, err
	}
	return b, func() { _ = c.Delete(context.Background(), name) }, nil
}

func wmKVPut(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	b, cleanup, err := wmBucket(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, val := workerKeys(p.Conc), payload(p.Payload)
	return func(ctx context.Context, w, i int) error {
		_, err := b.Put(ctx, keys[w], val)
		return err
	}, cleanup, nil
}

func wmKVGet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	b, cleanup, err := wmBucket(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, val := workerKeys(p.Conc), payload(p.Payload)
	for _, k := range keys {
		if _, err := b.Put(ctx, k, val); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		e, err := b.Get(ctx, keys[w])
		if err == nil && len(e.Value) != len(val) {
			return errors.New("short value")
		}
		return err
	}, cleanup, nil
}

func wmKVUpdate(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	b, cleanup, err := wmBucket(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, val := workerKeys(p.Conc), payload(p.Payload)
	revs := make([]uint64, p.Conc)
	for w, k := range keys {
		if revs[w], err = b.Put(ctx, k, val); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		rev, err := b.Update(ctx, keys[w], val, revs[w])
		revs[w] = rev
		return err
	}, cleanup, nil
}

// wmKVFanOut: p.Conc watchers on one key; one Put, timed until every
// watcher has seen it.
func wmKVFanOut(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	b, cleanup, err := wmBucket(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	var watchers []*kv.Watcher
	stop := func() {
		for _, w := range watchers {
			w.Stop()
		}
		cancel()
		cleanup()
	}
	for range p.Conc {
		w, err := b.Watch(wctx, "fan", kv.UpdatesOnly())
		if err != nil {
			stop()
			return nil, nil, err
		}
		watchers = append(watchers, w)
	}
	val := payload(128)
	return func(ctx context.Context, _, i int) error {
		rev, err := b.Put(ctx, "fan", val)
		if err != nil {
			return err
		}
		for _, w := range watchers {
			for {
				ev, err := w.Next()
				if err != nil {
					return err
				}
				if e := ev.Entry(); e != nil && e.Revision >= rev {
					break
				}
			}
		}
		return nil
	}, stop, nil
}

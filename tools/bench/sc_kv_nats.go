package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// NATS KeyValue sides of the KV scenarios: a bucket with memory storage and
// history 1, as a waymaker bucket without a data dir.

const natsKV = "NATS KV (memory)"

func natsBucket(ctx context.Context, env *Env, maxValue int) (jetstream.KeyValue, func(), error) {
	name := env.uniq("kv")
	kv, err := env.NATS.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Storage: jetstream.MemoryStorage, History: 1, MaxValueSize: int32(maxValue + 1024)})
	if err != nil {
		return nil, nil, err
	}
	return kv, func() { _ = env.NATS.js.DeleteKeyValue(context.Background(), name) }, nil
}

func workerKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	return keys
}

func natsKVPut(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	kv, cleanup, err := natsBucket(ctx, env, p.Payload)
	if err != nil {
		return nil, nil, err
	}
	keys, val := workerKeys(p.Conc), payload(p.Payload)
	return func(ctx context.Context, w, i int) error {
		_, err := kv.Put(ctx, keys[w], val)
		return err
	}, cleanup, nil
}

func natsKVGet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	kv, cleanup, err := natsBucket(ctx, env, p.Payload)
	if err != nil {
		return nil, nil, err
	}
	keys, val := workerKeys(p.Conc), payload(p.Payload)
	for _, k := range keys {
		if _, err := kv.Put(ctx, k, val); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		e, err := kv.Get(ctx, keys[w])
		if err == nil && len(e.Value()) != len(val) {
			return errors.New("short value")
		}
		return err
	}, cleanup, nil
}

func natsKVUpdate(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	kv, cleanup, err := natsBucket(ctx, env, p.Payload)
	if err != nil {
		return nil, nil, err
	}
	keys, val := workerKeys(p.Conc), payload(p.Payload)
	revs := make([]uint64, p.Conc)
	for w, k := range keys {
		if revs[w], err = kv.Put(ctx, k, val); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		rev, err := kv.Update(ctx, keys[w], val, revs[w])
		revs[w] = rev
		return err
	}, cleanup, nil
}

// natsKVFanOut: p.Conc watchers on one key; the operation is one Put and
// ends when every watcher has seen it.
func natsKVFanOut(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	kv, cleanup, err := natsBucket(ctx, env, 128)
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	var watchers []jetstream.KeyWatcher
	stop := func() {
		for _, w := range watchers {
			_ = w.Stop()
		}
		cancel()
		cleanup()
	}
	for range p.Conc {
		w, err := kv.Watch(wctx, "fan", jetstream.UpdatesOnly())
		if err != nil {
			stop()
			return nil, nil, err
		}
		watchers = append(watchers, w)
	}
	val := payload(128)
	return func(ctx context.Context, _, i int) error {
		rev, err := kv.Put(ctx, "fan", val)
		if err != nil {
			return err
		}
		for _, w := range watchers {
			for {
				e, ok := <-w.Updates()
				if !ok {
					return errors.New("watcher ended")
				}
				if e != nil && e.Revision() >= rev {
					break
				}
			}
		}
		return nil
	}, stop, nil
}

package main

import (
	"context"
	"errors"
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/sketch"
)

// waymaker sides of the collection and sketch scenarios, on the embedded
// server without a data dir (Redis runs without persistence). Each worker
// works on its own key of one store.

const wmColl = "waymaker (memory)"

func wmHashStore(ctx context.Context, env *Env) (*collections.HashStore, func(), error) {
	name := env.uniq("h")
	c := env.WM.c.Collections()
	s, err := c.CreateHashStore(ctx, collections.HashStoreConfig{Name: name})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = c.DeleteHashStore(context.Background(), name) }, nil
}

func wmHSet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	s, cleanup, err := wmHashStore(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, val := workerKeys(p.Conc), payload(p.Payload)
	fields := make([]map[string][]byte, p.Conc)
	for w := range fields {
		fields[w] = map[string][]byte{"field": val}
	}
	return func(ctx context.Context, w, i int) error {
		_, err := s.Set(ctx, keys[w], fields[w])
		return err
	}, cleanup, nil
}

func wmHGet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	s, cleanup, err := wmHashStore(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, val := workerKeys(p.Conc), payload(p.Payload)
	for _, k := range keys {
		if _, err := s.Set(ctx, k, map[string][]byte{"field": val}); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		v, err := s.Get(ctx, keys[w], "field")
		if err == nil && len(v) != len(val) {
			return errors.New("short value")
		}
		return err
	}, cleanup, nil
}

func wmSetStore(ctx context.Context, env *Env) (*collections.SetStore, func(), error) {
	name := env.uniq("s")
	c := env.WM.c.Collections()
	s, err := c.CreateSetStore(ctx, collections.SetStoreConfig{Name: name})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = c.DeleteSetStore(context.Background(), name) }, nil
}

func wmSAdd(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	s, cleanup, err := wmSetStore(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys := workerKeys(p.Conc)
	return func(ctx context.Context, w, i int) error {
		_, err := s.Add(ctx, keys[w], member(i))
		return err
	}, cleanup, nil
}

func wmSIsMember(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	s, cleanup, err := wmSetStore(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys := workerKeys(p.Conc)
	all := make([]string, 1000)
	for i := range all {
		all[i] = member(i)
	}
	for _, k := range keys {
		if _, err := s.Add(ctx, k, all...); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		ok, err := s.IsMember(ctx, keys[w], member(i%1000))
		if err == nil && !ok {
			return errors.New("member missing")
		}
		return err
	}, cleanup, nil
}

// wmPushPopAck: push one message, pop it, ack it; one queue per worker.
func wmPushPopAck(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	c := env.WM.c.Collections()
	base := env.uniq("q")
	qs := make([]*collections.Queue, p.Conc)
	cleanup := func() {
		for w, q := range qs {
			if q != nil {
				_ = c.DeleteQueue(context.Background(), fmt.Sprintf("%s-%d", base, w))
			}
		}
	}
	for w := range qs {
		q, err := c.CreateQueue(ctx, collections.QueueConfig{Name: fmt.Sprintf("%s-%d", base, w)})
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		qs[w] = q
	}
	val := payload(p.Payload)
	return func(ctx context.Context, w, i int) error {
		if _, err := qs[w].Push(ctx, val); err != nil {
			return err
		}
		m, err := qs[w].Pop(ctx, 0)
		if err != nil {
			return err
		}
		return m.Ack(ctx)
	}, cleanup, nil
}

func wmHLLAdd(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	c := env.WM.c.Sketches()
	hs := make([]*sketch.HLL, p.Conc)
	names := make([]string, p.Conc)
	cleanup := func() {
		for w, h := range hs {
			if h != nil {
				_ = c.DeleteHLL(context.Background(), names[w])
			}
		}
	}
	for w := range hs {
		names[w] = env.uniq("hll")
		h, err := c.CreateHLL(ctx, sketch.HLLConfig{Name: names[w]})
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		hs[w] = h
	}
	items := make([][]byte, 4096)
	for i := range items {
		items[i] = []byte(member(i))
	}
	return func(ctx context.Context, w, i int) error {
		_, err := hs[w].Add(ctx, items[i%len(items)])
		return err
	}, cleanup, nil
}

// wmBloom: one filter (capacity 1M, 1% error) shared by the workers; add
// inserts new items, exists tests items added in setup.
func wmBloom(exists bool) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		c := env.WM.c.Sketches()
		name := env.uniq("bloom")
		b, err := c.CreateBloom(ctx, sketch.BloomConfig{Name: name, Capacity: 1_000_000, ErrorRate: 0.01})
		if err != nil {
			return nil, nil, err
		}
		cleanup := func() { _ = c.DeleteBloom(context.Background(), name) }
		items := make([][]byte, 1000)
		for i := range items {
			items[i] = []byte(member(i))
		}
		if exists {
			if _, err := b.MAdd(ctx, items...); err != nil {
				cleanup()
				return nil, nil, err
			}
			return func(ctx context.Context, w, i int) error {
				ok, err := b.Exists(ctx, items[(w*7919+i)%len(items)])
				if err == nil && !ok {
					return errors.New("added item reported absent")
				}
				return err
			}, cleanup, nil
		}
		return func(ctx context.Context, w, i int) error {
			_, err := b.Add(ctx, []byte(fmt.Sprintf("w%d-%d", w, i)))
			return err
		}, cleanup, nil
	}
}

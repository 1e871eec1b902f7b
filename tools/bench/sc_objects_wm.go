package main

import (
	"context"
	"errors"

	"git.awesomike.com/pub/waymaker-client/go/objstore"
)

// waymaker sides of the object scenarios: a store on the embedded server
// without a data dir, 128 KiB chunks (the default, as NATS's).

const wmObj = "waymaker objects (memory)"

func wmObjStore(ctx context.Context, env *Env) (*objstore.Store, func(), error) {
	name := env.uniq("obj")
	c := env.WM.c.Objects()
	s, err := c.CreateStore(ctx, objstore.Config{Name: name})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = c.DeleteStore(context.Background(), name) }, nil
}

func wmObjPut(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	s, cleanup, err := wmObjStore(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, data := workerKeys(p.Conc), payload(p.Payload)
	return func(ctx context.Context, w, i int) error {
		ctx, cancel := context.WithTimeout(ctx, objectTimeout)
		defer cancel()
		_, err := s.PutBytes(ctx, keys[w], data)
		return err
	}, cleanup, nil
}

func wmObjGet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	s, cleanup, err := wmObjStore(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, data := workerKeys(p.Conc), payload(p.Payload)
	for _, k := range keys {
		if _, err := s.PutBytes(ctx, k, data); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		ctx, cancel := context.WithTimeout(ctx, objectTimeout)
		defer cancel()
		b, err := s.GetBytes(ctx, keys[w])
		if err == nil && len(b) != len(data) {
			return errors.New("short object")
		}
		return err
	}, cleanup, nil
}

package main

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Objects: Put and Get of whole objects, reported in MB/s, against the NATS
// object store (memory storage; 128 KiB chunks on both sides).

const natsObj = "NATS object store (memory)"

var objectSizes = []int{1 << 20, 256 << 20}

// objectTimeout bounds one whole-object operation; without a deadline of
// its own nats.go gives an object Get five seconds, too little for 256 MiB
// on this machine.
const objectTimeout = 5 * time.Minute

func init() {
	register(&Case{
		Group: "objects", Name: "put",
		Note:          "Put of a whole object (overwriting one name per worker), 128 KiB chunks",
		Payloads:      objectSizes,
		Conc:          []int{1, 4},
		QuickPayloads: []int{1 << 20},
		QuickConc:     []int{1},
		Bytes:         true,
		MaxInFlight:   256 << 20,
		Sides:         objectSides(wmObjPut, natsObjPut),
	})
	register(&Case{
		Group: "objects", Name: "get",
		Note:          "Get of a whole stored object into memory, one object per worker",
		Payloads:      objectSizes,
		Conc:          []int{1, 4},
		QuickPayloads: []int{1 << 20},
		QuickConc:     []int{1},
		Bytes:         true,
		MaxInFlight:   256 << 20,
		Sides:         objectSides(wmObjGet, natsObjGet),
	})
}

func objectSides(wm, nats setupFunc) []Side {
	return []Side{
		{System: "waymaker", Label: wmObj, Peer: natsObj, Setup: wm},
		{System: "nats", Label: natsObj, Setup: nats},
	}
}

func natsObjStore(ctx context.Context, env *Env) (jetstream.ObjectStore, func(), error) {
	name := env.uniq("obj")
	os, err := env.NATS.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: name, Storage: jetstream.MemoryStorage})
	if err != nil {
		return nil, nil, err
	}
	return os, func() { _ = env.NATS.js.DeleteObjectStore(context.Background(), name) }, nil
}

func natsObjPut(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	os, cleanup, err := natsObjStore(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, data := workerKeys(p.Conc), payload(p.Payload)
	return func(ctx context.Context, w, i int) error {
		ctx, cancel := context.WithTimeout(ctx, objectTimeout)
		defer cancel()
		_, err := os.Put(ctx, jetstream.ObjectMeta{Name: keys[w]}, bytes.NewReader(data))
		return err
	}, cleanup, nil
}

func natsObjGet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	os, cleanup, err := natsObjStore(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, data := workerKeys(p.Conc), payload(p.Payload)
	for _, k := range keys {
		if _, err := os.PutBytes(ctx, k, data); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		ctx, cancel := context.WithTimeout(ctx, objectTimeout)
		defer cancel()
		b, err := os.GetBytes(ctx, keys[w])
		if err == nil && len(b) != len(data) {
			return errors.New("short object")
		}
		return err
	}, cleanup, nil
}

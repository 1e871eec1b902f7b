package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"

	"git.awesomike.com/pub/waymaker-client/go/kv"
)

// The cluster group: three waymaker nodes against a three-member etcd (KV
// and locks) and a three-node NATS cluster with JetStream R3 (streams), all
// durable (sys_cluster.go). Latency at c=1, throughput at c=16.

const (
	wmCluster3   = "waymaker, 3 nodes (data dir)"
	etcdCluster3 = "etcd, 3 members"
	natsR3       = "NATS JetStream R3 (file, sync_always)"
)

var clusterConc = []int{1, 16}

func init() {
	kvSides := func(wm, etcd setupFunc) []Side {
		return []Side{
			{System: "waymaker-cluster", Label: wmCluster3, Peer: etcdCluster3, Setup: wm},
			{System: "etcd-cluster", Label: etcdCluster3, Setup: etcd},
		}
	}
	streamSides := func(wm, nats setupFunc) []Side {
		return []Side{
			{System: "waymaker-cluster", Label: wmCluster3, Peer: natsR3, Setup: wm},
			{System: "nats-cluster", Label: natsR3, Setup: nats},
		}
	}
	register(&Case{
		Group: "cluster", Name: "kv-put",
		Note:     "Put of one key per worker, 128 B value, through any node (waymaker: a bucket with history 1, ConnectMulti round-robin, followers forward to the leader; etcd: Put through client/v3 balancing over all members)",
		Payloads: []int{128}, Conc: clusterConc,
		Sides: kvSides(wmClusterKVPut, etcdClusterKVPut),
	})
	register(&Case{
		Group: "cluster", Name: "kv-get",
		Note:     "linearizable Get of one existing key per worker, 128 B value (waymaker's default read: read index confirmed with the leader; etcd's default Get, also linearizable)",
		Payloads: []int{128}, Conc: clusterConc,
		Sides: kvSides(wmClusterKVGet, etcdClusterKVGet),
	})
	register(&Case{
		Group: "cluster", Name: "lock-acquire",
		Note:  "acquire and release an uncontended lock, one key per worker (waymaker: Acquire then Unlock, quorum scope; etcd: concurrency.Mutex Lock then Unlock on a per-worker session)",
		Conc:  clusterConc,
		Sides: kvSides(wmLockCycle(clusterWM), etcdLockCycleOn(etcdClusterCli)),
	})
	register(&Case{
		Group: "cluster", Name: "lock-renew",
		Note:  "one lease renewal of a held lock per operation, one lock per worker (waymaker: Lock.Renew; etcd: Lease.KeepAliveOnce of the session's lease)",
		Conc:  clusterConc,
		Sides: kvSides(wmRenew(clusterWM), etcdRenewOn(etcdClusterCli)),
	})
	register(&Case{
		Group: "cluster", Name: "publish",
		Note:     "synchronous publish (wait for the stored, replicated ack) of one 128 B message",
		Payloads: []int{128}, Conc: clusterConc,
		Sides: streamSides(wmPublish(false, clusterWM), natsR3Publish(false)),
	})
	register(&Case{
		Group: "cluster", Name: "publish-async",
		Note:     fmt.Sprintf("%d asynchronous publishes of 128 B in flight, the operation ends when all are acked (one operation = %d messages)", asyncWindow, asyncWindow),
		Payloads: []int{128}, Conc: clusterConc,
		PerOp: asyncWindow,
		Sides: streamSides(wmPublish(true, clusterWM), natsR3Publish(true)),
	})
}

func clusterWM(e *Env) *wmSys                { return e.WMC.sys }
func etcdClusterCli(e *Env) *clientv3.Client { return e.EtcdC.cli }

// ---- waymaker

func wmClusterBucket(ctx context.Context, env *Env) (*kv.Bucket, func(), error) {
	name := env.uniq("ckv")
	c := env.WMC.sys.c.KeyValue()
	b, err := c.Create(ctx, kv.Config{Name: name, History: 1})
	if err != nil {
		return nil, nil, err
	}
	return b, func() { _ = c.Delete(context.Background(), name) }, nil
}

func wmClusterKVPut(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	b, cleanup, err := wmClusterBucket(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	keys, val := workerKeys(p.Conc), payload(p.Payload)
	return func(ctx context.Context, w, i int) error {
		_, err := b.Put(ctx, keys[w], val)
		return err
	}, cleanup, nil
}

func wmClusterKVGet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	b, cleanup, err := wmClusterBucket(ctx, env)
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

// ---- etcd

func etcdClusterKeys(env *Env, n int) ([]string, func()) {
	prefix := env.uniq("/ckv")
	keys := make([]string, n)
	for w := range keys {
		keys[w] = fmt.Sprintf("%s/%d", prefix, w)
	}
	return keys, func() {
		_, _ = env.EtcdC.cli.Delete(context.Background(), prefix+"/", clientv3.WithPrefix())
	}
}

func etcdClusterKVPut(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	keys, cleanup := etcdClusterKeys(env, p.Conc)
	val := string(payload(p.Payload))
	cli := env.EtcdC.cli
	return func(ctx context.Context, w, i int) error {
		_, err := cli.Put(ctx, keys[w], val)
		return err
	}, cleanup, nil
}

func etcdClusterKVGet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	keys, cleanup := etcdClusterKeys(env, p.Conc)
	val := string(payload(p.Payload))
	cli := env.EtcdC.cli
	for _, k := range keys {
		if _, err := cli.Put(ctx, k, val); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		r, err := cli.Get(ctx, keys[w])
		if err != nil {
			return err
		}
		if len(r.Kvs) != 1 || len(r.Kvs[0].Value) != len(val) {
			return errors.New("short value")
		}
		return nil
	}, cleanup, nil
}

// ---- NATS

// natsR3Stream creates a stream with three replicas on file storage,
// retrying while JetStream places it (a fresh cluster may still be
// settling its peers).
func natsR3Stream(ctx context.Context, env *Env) (string, func(), error) {
	name := env.uniq("cbench")
	js := env.NATSC.js
	var lastErr error
	_, err := waitFor(ctx, 30*time.Second, func() (struct{}, bool) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, lastErr = js.CreateStream(cctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage, Replicas: clusterSize, MaxBytes: streamMaxBytes, Discard: jetstream.DiscardOld})
		return struct{}{}, lastErr == nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("create R3 stream: %w (last: %v)", err, lastErr)
	}
	return name + ".x", func() { _ = js.DeleteStream(context.Background(), name) }, nil
}

func natsR3Publish(async bool) setupFunc {
	return func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
		subj, cleanup, err := natsR3Stream(ctx, env)
		if err != nil {
			return nil, nil, err
		}
		js, data := env.NATSC.js, payload(p.Payload)
		if !async {
			return func(ctx context.Context, w, i int) error {
				_, err := js.Publish(ctx, subj, data)
				return err
			}, cleanup, nil
		}
		futs := make([][]jetstream.PubAckFuture, p.Conc)
		return func(ctx context.Context, w, i int) error {
			fs := futs[w][:0]
			for range asyncWindow {
				f, err := js.PublishAsync(subj, data)
				if err != nil {
					return err
				}
				fs = append(fs, f)
			}
			futs[w] = fs
			for _, f := range fs {
				select {
				case <-f.Ok():
				case err := <-f.Err():
					return err
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}, cleanup, nil
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// A power cut of the whole cluster: three waymakerd processes with data
// dirs (fsync on, the default) under KV puts with distinct keys, publishes
// with msg ids and object Puts of 1 to 4 MiB are all killed with SIGKILL
// at once, at a random moment, and restarted together on their data dirs.
// Every node starts again (health SERVING within waitServing's bound), and
// every acknowledged write is there exactly once: each key with its value,
// each message once (the writes cut by the kill are retried after the
// restart with the same key, msg id or object name, as a user would), each
// object with its digest, on every node.
func TestClusterOfProcessesSurvivesPowerCut(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	pc := startProcCluster(t, "powercut")
	nodes, addrs := pc.nodes, pc.addrs()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := waymaker.ConnectMulti(ctx, addrs, waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := c.KeyValue().Create(ctx, kv.Config{Name: "cut"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Streams().Create(ctx, stream.Config{Name: "cut", DuplicateWindow: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	store, err := c.CreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "cut", ChunkSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{}
	for i := range 3 {
		data := make([]byte, (1<<20)+rng.IntN(3<<20))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		objects[fmt.Sprintf("o%d", i)] = data
	}

	// The load, until the cut: each writer records what was acknowledged
	// and the one write in flight when the cluster went away.
	lctx, stopLoad := context.WithCancel(ctx)
	var (
		mu         sync.Mutex
		keys, msgs = map[string]bool{}, map[string]bool{} // acknowledged (true) or cut (false)
		putObjects = map[string]bool{}
		wg         sync.WaitGroup
		firstAcks  = make(chan struct{})
		firstOnce  sync.Once
		acked      = func() { firstOnce.Do(func() { close(firstAcks) }) }
		note       = func(m map[string]bool, k string, err error) bool {
			mu.Lock()
			defer mu.Unlock()
			m[k] = err == nil
			return err == nil
		}
	)
	for w := range 2 {
		wg.Go(func() {
			for i := 0; lctx.Err() == nil; i++ {
				k := fmt.Sprintf("w%d-k%d", w, i)
				_, err := b.Put(lctx, k, []byte(k))
				if !note(keys, k, err) {
					return
				}
				acked()
			}
		})
	}
	wg.Go(func() {
		for i := 0; lctx.Err() == nil; i++ {
			id := fmt.Sprintf("m%d", i)
			_, err := st.Publish(lctx, "cut", []byte(id), stream.WithMsgID(id))
			if !note(msgs, id, err) {
				return
			}
		}
	})
	wg.Go(func() {
		for i := 0; lctx.Err() == nil && i < len(objects); i++ {
			name := fmt.Sprintf("o%d", i)
			_, err := store.PutBytes(lctx, name, objects[name])
			if !note(putObjects, name, err) {
				return
			}
		}
	})
	select {
	case <-firstAcks:
	case <-ctx.Done():
		t.Fatal("no write acknowledged before the cut")
	}
	<-time.After(time.Duration(200+rng.IntN(1500)) * time.Millisecond) // a random moment of the load: fault timing, not synchronisation
	for _, d := range nodes {
		_ = d.cmd.Process.Kill() // all three before any is reaped
	}
	for _, d := range nodes {
		_ = d.cmd.Wait()
		d.cmd = nil
	}
	stopLoad()
	wg.Wait()

	restarted := time.Now()
	for i := range nodes {
		pc.start(i)
	}
	for _, a := range addrs {
		waitServing(t, a) // fails the test past its bound
	}
	t.Logf("every node SERVING again %v after the restart", time.Since(restarted))

	// The writes the cut left unanswered, retried as a user would.
	retry := func(what string, do func() error) {
		t.Helper()
		for attempt := 1; ; attempt++ {
			err := do()
			if err == nil {
				return
			}
			if ctx.Err() != nil || attempt == 50 {
				t.Fatalf("retry %s after the restart, attempt %d: %v", what, attempt, err)
			}
			<-time.After(100 * time.Millisecond) // a user's backoff before retrying
		}
	}
	var nkeys, nacked int
	for k, ok := range keys {
		if !ok {
			retry(k, func() error { _, err := b.Put(ctx, k, []byte(k)); return err })
		}
		nkeys++
		if ok {
			nacked++
		}
	}
	for id, ok := range msgs {
		if !ok {
			retry(id, func() error { _, err := st.Publish(ctx, "cut", []byte(id), stream.WithMsgID(id)); return err })
		}
	}
	for name, ok := range putObjects {
		if !ok {
			retry(name, func() error { _, err := store.PutBytes(ctx, name, objects[name]); return err })
		}
	}
	t.Logf("before the cut: %d keys acknowledged (%d cut), %d messages, %d objects", nacked, nkeys-nacked, len(msgs), len(putObjects))

	for i, d := range nodes {
		one, err := waymaker.Connect(ctx, d.addr)
		if err != nil {
			t.Fatal(err)
		}
		ob, err := one.KeyValue().Open(ctx, "cut")
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		for k := range keys {
			e, err := ob.Get(ctx, k)
			if err != nil || string(e.Value) != k {
				t.Fatalf("node %d: key %s: %v, %v", i, k, e, err)
			}
		}
		ost, err := one.Streams().Get(ctx, "cut")
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		info, err := ost.Info(ctx)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if info.State.Msgs != int64(len(msgs)) {
			t.Fatalf("node %d: %d messages in the stream, want each of the %d published exactly once", i, info.State.Msgs, len(msgs))
		}
		s, err := one.Objects().Store(ctx, "cut")
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		for name := range putObjects {
			got, err := s.GetBytes(ctx, name)
			want := sha256.Sum256(objects[name])
			if g := sha256.Sum256(got); err != nil || !bytes.Equal(g[:], want[:]) {
				t.Fatalf("node %d: object %s: %d bytes, %v", i, name, len(got), err)
			}
		}
		if err := one.Close(); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("node %d: close: %v", i, err)
		}
	}
}

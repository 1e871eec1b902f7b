package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
)

var crashKills = flag.Int("crash-kills", 6, "TestClusterOfProcessesSurvivesKillsMidUpload: how many kill -9 (a longer soak: 20 or more)")

// Three waymakerd processes with data dirs (fsync on) under a steady load
// of object Puts of 1 to 4 MiB and KV puts with distinct keys, while a
// random node is killed with SIGKILL at a random moment of a Put and
// restarted on its data dir, -crash-kills times. At the end every node
// starts, and every acknowledged object reads back from every node with
// its digest, every acknowledged key with its value. A Put cut by a kill
// is retried, as a user would.
func TestClusterOfProcessesSurvivesKillsMidUpload(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	pc := startProcCluster(t, "crash")
	nodes, addrs := pc.nodes, pc.addrs()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := waymaker.ConnectMulti(ctx, addrs, waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	store, err := c.CreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "crash", ChunkSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.KeyValue().Create(ctx, kv.Config{Name: "crash"})
	if err != nil {
		t.Fatal(err)
	}

	objects := map[string][32]byte{}
	keys := 0
	putObject := func(name string, data []byte) error {
		for attempt := 1; ; attempt++ {
			_, err := store.PutBytes(ctx, name, data)
			if err == nil {
				objects[name] = sha256.Sum256(data)
				return nil
			}
			t.Logf("put %s, attempt %d: %v", name, attempt, err)
			if ctx.Err() != nil || attempt == 50 {
				return fmt.Errorf("put %s, attempt %d: %w", name, attempt, err)
			}
			<-time.After(100 * time.Millisecond) // a user's backoff before retrying a Put

		}
	}
	putKey := func() {
		t.Helper()
		k := fmt.Sprintf("k%d", keys)
		if _, err := b.Put(ctx, k, []byte(k)); err != nil { // retried by the SDK with its request id
			t.Fatalf("put %s: %v", k, err)
		}
		keys++
	}
	for i := range *crashKills {
		data := make([]byte, (1<<20)+rng.IntN(3<<20))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		victim := rng.IntN(3)
		delay := time.Duration(rng.IntN(400)) * time.Millisecond
		killed := make(chan struct{})
		go func() {
			defer close(killed)
			<-time.After(delay) // a random moment of the Put: fault timing, not synchronisation
			nodes[victim].kill()
		}()
		err := putObject(fmt.Sprintf("o%02d", i), data)
		<-killed
		if err != nil {
			t.Fatal(err)
		}
		putKey()
		pc.start(victim)
		waitServing(t, nodes[victim].addr)
		putKey()
	}

	// The whole cluster killed at once: TestClusterOfProcessesSurvivesPowerCut.

	// Every node: every acknowledged object with its digest, every key.
	for i, d := range nodes {
		one, err := waymaker.Connect(ctx, d.addr)
		if err != nil {
			t.Fatal(err)
		}
		s, err := one.Objects().Store(ctx, "crash")
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		for name, sum := range objects {
			got, err := s.GetBytes(ctx, name)
			if g := sha256.Sum256(got); err != nil || !bytes.Equal(g[:], sum[:]) {
				t.Fatalf("node %d: object %s: %d bytes, %v", i, name, len(got), err)
			}
		}
		ob, err := one.KeyValue().Open(ctx, "crash")
		if err != nil {
			t.Fatal(err)
		}
		for k := range keys {
			e, err := ob.Get(ctx, fmt.Sprintf("k%d", k))
			if err != nil || string(e.Value) != fmt.Sprintf("k%d", k) {
				t.Fatalf("node %d: key k%d: %v, %v", i, k, e, err)
			}
		}
		one.Close()
	}
	t.Logf("%d kills, %d objects, %d keys, all present on every node", *crashKills, len(objects), keys)
}

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// A node that joins a cluster holding 16 MiB of objects, 10,000 KV keys
// and 50,000 stream messages, whose log the leader has compacted, catches
// up by snapshot install: through a client connected to it alone, every
// object reads back with its digest, every key with its value and every
// message by its sequence. Under the race detector, which makes every call
// several times slower, 4 MiB, 2,000 keys and 10,000 messages, to stay
// within a minute on 2 cores. StartTimeout stays at its default (10 s),
// which a snapshot install on a loaded machine can exceed: Start keeps
// waiting while the node makes progress. The full scale
// (256 MiB, 100,000 keys, 1,000,000 messages) is measured by objmem
// -catchup: BENCHMARKS.md.
func TestClusterJoinInstallsEveryObjectKeyAndMessage(t *testing.T) {
	objects, objSize, keys, msgs := 4, 4<<20, 10_000, 50_000
	if raceEnabled {
		objects, keys, msgs = 1, 2_000, 10_000
	}
	var mu sync.Mutex
	logs := map[string]*observer.ObservedLogs{}
	c := waymakertest.StartCluster(t, 3, withSuite(t, waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = 256, 50*time.Millisecond, 64
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, time.Second
		core, l := observer.New(zapcore.DebugLevel)
		mu.Lock()
		logs[cfg.NodeID] = l
		mu.Unlock()
		cfg.Logger = zap.New(core)
	}))...)
	nodeLogs := func(i int) *observer.ObservedLogs {
		mu.Lock()
		defer mu.Unlock()
		return logs[fmt.Sprintf("node%d", i+1)]
	}
	leader := c.Leader()
	cl := connect(t, c.Node(leader).Addr())
	ctx := testCtx(t, 180*time.Second)
	objs := newObjectStore(t, cl, waymaker.ObjectStoreConfig{ChunkSize: 1 << 20})
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: name(t), History: 1})
	if err != nil {
		t.Fatal(err)
	}
	sname := name(t)
	st, err := cl.Streams().Create(ctx, stream.Config{Name: sname, Subjects: []string{sname}})
	if err != nil {
		t.Fatal(err)
	}

	phase := time.Now()
	want := map[string][]byte{}
	var wmu sync.Mutex
	var wg sync.WaitGroup
	for i := range objects {
		wg.Go(func() {
			n := "o" + strconv.Itoa(i)
			data := objRandBytes(objSize, uint64(200+i))
			putSetup(t, ctx, objs, n, data)
			wmu.Lock()
			want[n] = data
			wmu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("objects loaded in %v", time.Since(phase))
	phase = time.Now()
	forEachInParallel(t, 32, keys, func(i int) error {
		_, err := b.Put(ctx, fmt.Sprintf("k%05d", i), []byte(strconv.Itoa(i)))
		return err
	})
	t.Logf("keys loaded in %v", time.Since(phase))
	phase = time.Now()
	payload := func(i int) []byte { return []byte("m" + strconv.Itoa(i)) }
	publishInThousands(t, ctx, st, sname, msgs, payload)
	rev, err := b.Put(ctx, "last", []byte("last"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("messages loaded in %v", time.Since(phase))

	// The leader's log no longer starts at index 1, so only a snapshot
	// can bring a new node up to date.
	waitFor(t, 30*time.Second, "the leader to compact its log", func() bool {
		return nodeLogs(c.Leader()).FilterMessage("compacting logs").Len() > 0
	})

	phase = time.Now()
	behind := c.Join()
	t.Logf("node%d joined and caught up in %v", behind+1, time.Since(phase))
	waitFor(t, 5*time.Second, "the new node to have installed a snapshot",
		func() bool { return nodeLogs(behind).FilterMessage("Installed remote snapshot").Len() > 0 })

	phase = time.Now()
	one := connect(t, c.Node(behind).Addr())
	jb := one.KeyValue().Bucket(b.Name())
	if e, err := jb.Get(ctx, "last"); err != nil || string(e.Value) != "last" || e.Revision != rev {
		t.Fatalf("linearizable read of the last write through the new node: %+v, %v; want revision %d", e, err, rev)
	}
	ostore := newObjectStoreHandle(t, one, objs.Name())
	for n, data := range want {
		if got, err := ostore.GetBytes(ctx, n); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("new node: object %s: %d bytes, %v", n, len(got), err)
		}
	}
	if got := blobFiles(t, c, behind); got != len(want) {
		t.Fatalf("the new node holds %d blob files, want %d", got, len(want))
	}
	w, err := jb.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.InitialDone {
			break
		}
		if ev.Put != nil && ev.Put.Key != "last" {
			var i int
			if _, err := fmt.Sscanf(ev.Put.Key, "k%05d", &i); err != nil || string(ev.Put.Value) != strconv.Itoa(i) {
				t.Fatalf("new node: key %q = %q", ev.Put.Key, ev.Put.Value)
			}
			seen[ev.Put.Key] = true
		}
	}
	w.Stop()
	if len(seen) != keys {
		t.Fatalf("new node: the bucket holds %d of %d keys", len(seen), keys)
	}
	js, err := one.Streams().Get(ctx, sname)
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Info(ctx)
	if err != nil || info.State.Msgs != int64(msgs) || info.State.LastSeq != uint64(msgs) {
		t.Fatalf("new node: stream state %+v, %v", info, err)
	}
	// Stale reads: the linearizable read above showed the node current.
	sctx := transport.StaleRead(ctx)
	forEachInParallel(t, 16, msgs, func(i int) error {
		m, err := js.GetMsg(sctx, uint64(i+1))
		if err != nil || !bytes.Equal(m.Payload, payload(i)) {
			return fmt.Errorf("new node: message %d: %v, %v", i+1, m, err)
		}
		return nil
	})
	t.Logf("every object, key and message read back through the new node in %v", time.Since(phase))
}

// forEachInParallel calls do(i) once for every i below n, from workers
// goroutines that each take the next i not yet taken, and returns when all
// have ended. A goroutine stops at its first error; the first error sent
// fails t.
func forEachInParallel(t *testing.T, workers, n int, do func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// publishInThousands publishes messages 0 to msgs-1 (a multiple of 1000)
// on subject of st, payload(i) the i-th's data, in batches of 1000.
func publishInThousands(t *testing.T, ctx context.Context, st *stream.Stream, subject string, msgs int, payload func(i int) []byte) {
	t.Helper()
	for i := 0; i < msgs; i += 1000 {
		batch := make([]stream.Message, 1000)
		for j := range batch {
			batch[j] = stream.Message{Subject: subject, Data: payload(i + j)}
		}
		if _, err := st.PublishBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
}

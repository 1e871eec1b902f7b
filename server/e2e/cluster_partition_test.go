package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// A leader cut off alone in a minority steps down; through it (a client
// that reaches only that node) a write fails and is never applied, and a
// linearizable read fails, each with a clear error within a short
// deadline, while a read that asks for stale data is answered from its
// local state. The majority goes on, and after the heal the old leader
// serves the majority's data.
func TestClusterMinorityPartitionOldLeader(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	ctx := testCtx(t, 60*time.Second)
	l := c.Leader()
	old := connectAlone(t, c.Node(l).Addr()) // on the minority's side of the partition
	bname := name(t)
	b, err := old.KeyValue().Create(ctx, kv.Config{Name: bname, History: 8})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("before")); err != nil {
		t.Fatal(err)
	}

	c.Partition([]int{l}, []int{(l + 1) % 3, (l + 2) % 3})
	// A write sent at once, while the old leader may still think it leads,
	// cannot commit.
	early := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := b.Put(wctx, "k", []byte("early"))
		early <- err
	}()
	waitFor(t, 10*time.Second, "the old leader to step down", func() bool {
		st, err := old.Cluster().Status(ctx)
		return err == nil && st.State != "leader"
	})
	if err := <-early; err == nil {
		t.Fatal("a write through the partitioned leader succeeded")
	} else {
		t.Logf("write sent as the partition began: %v", err)
	}

	wctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = b.Put(wctx, "k", []byte("during"))
	cancel()
	if !clearNoLeader(err) {
		t.Fatalf("write through the minority = %v; want Unavailable or a deadline that says no leader could be reached", err)
	}
	t.Logf("write through the minority: %v", err)
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	e, err := b.Get(rctx, "k")
	cancel()
	if err == nil {
		t.Fatalf("a linearizable read through the minority answered %q", e.Value)
	}
	if !clearNoLeader(err) {
		t.Fatalf("linearizable read through the minority = %v; want Unavailable or a deadline that says no leader could be reached", err)
	}
	t.Logf("linearizable read through the minority: %v", err)
	e, err = b.Get(waymaker.StaleRead(ctx), "k")
	if err != nil || string(e.Value) != "before" {
		t.Fatalf("stale read through the minority = %+v, %v; want %q from its local state", e, err, "before")
	}

	// The majority elects a leader and takes writes.
	nl := c.Leader()
	if nl == l {
		t.Fatalf("the partitioned node %d leads again", l)
	}
	maj := connect(t, c.Node(nl).Addr()).KeyValue().Bucket(bname)
	if _, err := maj.Put(ctx, "k", []byte("majority")); err != nil {
		t.Fatalf("write through the majority: %v", err)
	}
	if e, err := b.Get(waymaker.StaleRead(ctx), "k"); err != nil || string(e.Value) != "before" {
		t.Fatalf("stale read on the cut-off node after the majority's write = %+v, %v; want its old %q", e, err, "before")
	}

	c.Heal()
	waitFor(t, 10*time.Second, "the old leader to serve again", func() bool {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		e, err := b.Get(rctx, "k")
		return err == nil && string(e.Value) == "majority"
	})
	h, err := b.History(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, e := range h {
		vals = append(vals, string(e.Value))
	}
	if fmt.Sprint(vals) != "[before majority]" {
		t.Fatalf("history of k after the heal: %v; want [before majority]: no write through the minority applied", vals)
	}
}

// clearNoLeader reports whether err is Unavailable or a deadline, saying
// that no leader could be reached, or (when the deadline ended the call
// while the server still waited for one) that the request ended first.
// The deadline is matched by its code: when the server's copy of the
// deadline fires a moment before the client's, errors.Is(err,
// context.DeadlineExceeded) does not hold.
func clearNoLeader(err error) bool {
	var e *waymaker.Error
	deadline := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &e) && e.Code == "DeadlineExceeded"
	msg := err.Error()
	return (errors.Is(err, waymaker.ErrUnavailable) || deadline) &&
		(strings.Contains(msg, "no leader") || strings.Contains(msg, "request ended before the outcome was known"))
}

// All three nodes are restarted one after another under a steady load of
// KV puts (distinct keys) and gets from four clients: no call fails, and
// every acknowledged put is there exactly once at the end.
func TestClusterRollingRestartUnderLoad(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, withSuite(t)...)
	ctx := testCtx(t, 120*time.Second)
	bname := name(t)
	if _, err := connectCluster(t, c).KeyValue().Create(ctx, kv.Config{Name: bname}); err != nil {
		t.Fatal(err)
	}
	const workers = 4
	var (
		ops    atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []error
		acked  = map[string]uint64{} // key → revision of its put
	)
	fail := func(err error) {
		mu.Lock()
		failed = append(failed, err)
		mu.Unlock()
	}
	for w := range workers {
		b := connectCluster(t, c).KeyValue().Bucket(bname)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%05d", w, i)
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				rev, err := b.Put(cctx, k, []byte(k))
				if err != nil {
					cancel()
					fail(fmt.Errorf("put %s: %w", k, err))
					return
				}
				mu.Lock()
				acked[k] = rev
				mu.Unlock()
				e, err := b.Get(cctx, k)
				cancel()
				if err != nil || string(e.Value) != k || e.Revision != rev {
					fail(fmt.Errorf("get %s after its put @%d: %+v, %v", k, rev, e, err))
					return
				}
				ops.Add(2)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	waitFor(t, 10*time.Second, "the load to start", func() bool { return ops.Load() >= 100 })
	for i := range 3 {
		start := time.Now()
		c.Restart(i)
		l := c.Leader()
		at := ops.Load()
		waitFor(t, 20*time.Second, "the load to go on after the restart", func() bool { return ops.Load() >= at+100 })
		t.Logf("restarted node %d in %v; node %d leads; %d calls so far", i, time.Since(start), l, ops.Load())
		mu.Lock()
		f := len(failed)
		mu.Unlock()
		if f > 0 {
			break
		}
	}
	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close
	if len(failed) > 0 {
		t.Fatalf("%d calls failed during the rolling restart; first: %v", len(failed), failed[0])
	}
	b := connectCluster(t, c).KeyValue().Bucket(bname)
	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Values != int64(len(acked)) || st.Entries != int64(len(acked)) || st.Revision != uint64(len(acked)) {
		t.Fatalf("bucket after the rolling restart: %d values, %d entries, revision %d; want %d of each (every acked put once)",
			st.Values, st.Entries, st.Revision, len(acked))
	}
	for k, rev := range acked {
		e, err := b.Get(ctx, k)
		if err != nil || string(e.Value) != k || e.Revision != rev {
			t.Fatalf("get %s after the rolling restart: %+v, %v; want its put @%d", k, e, err, rev)
		}
	}
	t.Logf("%d calls, %d acked puts, none failed", ops.Load(), len(acked))
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

func kvBucket(t *testing.T, c *waymaker.Client, cfg waymaker.KVConfig) *waymaker.KVBucket {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = name(t)
	}
	b, err := c.CreateKV(testCtx(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteKV(context.Background(), cfg.Name) })
	return b
}

// kvNextEvent reads one event, failing the test when none comes in time.
func kvNextEvent(t *testing.T, w *waymaker.KVWatcher) waymaker.KVEvent {
	t.Helper()
	type res struct {
		ev  waymaker.KVEvent
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ev, err := w.Next()
		ch <- res{ev, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("watch: %v", r.err)
		}
		return r.ev
	case <-time.After(10 * time.Second):
		w.Stop()
		<-ch
		t.Fatal("no watch event within 10s")
		return waymaker.KVEvent{}
	}
}

func kvWantPut(t *testing.T, ev waymaker.KVEvent, key, val string) *waymaker.KVEntry {
	t.Helper()
	if ev.Put == nil || ev.Put.Key != key || string(ev.Put.Value) != val {
		t.Fatalf("event %+v, want put %s=%s", kvDescribe(ev), key, val)
	}
	return ev.Put
}

func kvDescribe(ev waymaker.KVEvent) string {
	switch {
	case ev.Put != nil:
		return fmt.Sprintf("put %s=%s @%d", ev.Put.Key, ev.Put.Value, ev.Put.Revision)
	case ev.Delete != nil:
		return fmt.Sprintf("%v %s @%d", ev.Delete.Operation, ev.Delete.Key, ev.Delete.Revision)
	case ev.InitialDone:
		return "initial done"
	}
	return "end"
}

func TestKVBucketLifecycle(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	n := name(t)
	cfg := waymaker.KVConfig{Name: n, Description: "d", History: 3, TTL: time.Minute, MaxBytes: 1 << 20}
	b, err := c.CreateKV(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteKV(context.Background(), n) })
	if b.Name() != n || b.Config().History != 3 || b.Config().MaxValueSize != 1<<20 {
		t.Fatalf("bucket %s config %+v", b.Name(), b.Config())
	}
	if _, err := c.CreateKV(ctx, cfg); err != nil {
		t.Fatalf("re-create with the same config: %v", err)
	}
	other := cfg
	other.History = 4
	if _, err := c.CreateKV(ctx, other); !errors.Is(err, waymaker.ErrExists) {
		t.Fatalf("create with another config: %v, want exists", err)
	}
	got, err := c.GetOrCreateKV(ctx, other)
	if err != nil || got.Config().History != 3 {
		t.Fatalf("GetOrCreateKV of an existing bucket: %v %+v", err, got)
	}
	opened, err := c.KV(ctx, n)
	if err != nil || opened.Config() != b.Config() {
		t.Fatalf("KV(name) = %+v, %v", opened, err)
	}
	if _, err := c.KV(ctx, n+"-missing"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("KV of a missing bucket: %v", err)
	}
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	st, err := b.Status(ctx)
	if err != nil || st.Values != 1 || st.Revision != 1 || st.Config.TTL != time.Minute || st.Created.IsZero() {
		t.Fatalf("status %+v %v", st, err)
	}
	found := false
	for s, err := range c.ListKV(ctx).All() {
		if err != nil {
			t.Fatal(err)
		}
		found = found || s.Config.Name == n
	}
	if !found {
		t.Fatal("ListKV does not list the bucket")
	}
	if err := c.DeleteKV(ctx, n); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KV(ctx, n); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("KV after delete: %v", err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Get after bucket delete: %v", err)
	}
	if err := c.DeleteKV(ctx, n); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("second DeleteKV: %v", err)
	}
}

func TestKVListPages(t *testing.T) {
	_, c := startEmbedded(t) // counts every bucket, so it needs a server of its own
	ctx := testCtx(t, 30*time.Second)
	for i := range 105 {
		if _, err := c.CreateKV(ctx, waymaker.KVConfig{Name: fmt.Sprintf("b%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	l := c.ListKV(ctx)
	for {
		s, err := l.Next()
		if err != nil {
			t.Fatal(err)
		}
		if s == nil {
			break
		}
		names = append(names, s.Config.Name)
	}
	if len(names) != 105 || !slices.IsSorted(names) {
		t.Fatalf("listed %d buckets, sorted=%v", len(names), slices.IsSorted(names))
	}
}

func TestKVPutGetCreateUpdateDelete(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	b := kvBucket(t, c, waymaker.KVConfig{History: 5})

	r1, err := b.Put(ctx, "a.b", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := b.Put(ctx, "other", []byte("x"))
	if err != nil || r2 <= r1 {
		t.Fatalf("revisions %d then %d (%v): must strictly increase", r1, r2, err)
	}
	e, err := b.Get(ctx, "a.b")
	if err != nil || string(e.Value) != "1" || e.Revision != r1 || e.Operation != kv.OpPut || e.Key != "a.b" || e.Created.IsZero() {
		t.Fatalf("Get = %+v, %v", e, err)
	}
	if _, err := b.Get(ctx, "missing"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	if _, err := b.Create(ctx, "a.b", []byte("2")); !errors.Is(err, waymaker.ErrExists) || !waymaker.IsServerCode(err, "exists") {
		t.Fatalf("Create of a live key: %v", err)
	}
	if _, err := b.Update(ctx, "a.b", []byte("2"), r2); !errors.Is(err, waymaker.ErrWrongRevision) {
		t.Fatalf("Update at a wrong revision: %v", err)
	}
	r3, err := b.Update(ctx, "a.b", []byte("2"), r1)
	if err != nil || r3 <= r2 {
		t.Fatalf("Update = %d, %v", r3, err)
	}
	if e, err := b.GetRevision(ctx, "a.b", r1); err != nil || string(e.Value) != "1" {
		t.Fatalf("GetRevision = %+v, %v", e, err)
	}
	if _, err := b.GetRevision(ctx, "a.b", r2); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("GetRevision of another key's revision: %v", err)
	}
	if _, err := b.Delete(ctx, "a.b", kv.LastRevision(r1)); !errors.Is(err, waymaker.ErrWrongRevision) {
		t.Fatalf("Delete with a stale precondition: %v", err)
	}
	r4, err := b.Delete(ctx, "a.b", kv.LastRevision(r3))
	if err != nil || r4 <= r3 {
		t.Fatalf("Delete = %d, %v", r4, err)
	}
	if _, err := b.Get(ctx, "a.b"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Get of a deleted key: %v", err)
	}
	if h, err := b.History(ctx, "a.b"); err != nil || len(h) != 3 || h[2].Operation != kv.OpDelete {
		t.Fatalf("History after delete = %d entries, %v", len(h), err)
	}
	r5, err := b.Create(ctx, "a.b", []byte("again"))
	if err != nil || r5 <= r4 {
		t.Fatalf("Create after delete = %d, %v", r5, err)
	}
	if _, err := b.Purge(ctx, "a.b", kv.LastRevision(r4)); !errors.Is(err, waymaker.ErrWrongRevision) {
		t.Fatalf("Purge with a stale precondition: %v", err)
	}
	if _, err := b.Purge(ctx, "a.b"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "a.b"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Get of a purged key: %v", err)
	}
	h, err := b.History(ctx, "a.b")
	if err != nil || len(h) != 1 || h[0].Operation != kv.OpPurge {
		t.Fatalf("History after purge = %+v, %v", h, err)
	}
	if _, err := b.History(ctx, "never"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("History of a key never written: %v", err)
	}
	// Update with revision 0 creates a key that has no entry.
	if _, err := b.Update(ctx, "fresh", []byte("v"), 0); err != nil {
		t.Fatalf("Update(0) of a new key: %v", err)
	}
}

// 16 goroutines increment one counter through Get+Update retry loops: the
// compare-and-set makes every increment count exactly once.
func TestKVConcurrentCounter(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 2*time.Minute)
	b := kvBucket(t, c, waymaker.KVConfig{})
	if _, err := b.Put(ctx, "counter", []byte("0")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					e, err := b.Get(ctx, "counter")
					if err != nil {
						errs <- err
						return
					}
					n, _ := strconv.Atoi(string(e.Value))
					_, err = b.Update(ctx, "counter", []byte(strconv.Itoa(n+1)), e.Revision)
					if err == nil {
						break
					}
					if !errors.Is(err, waymaker.ErrWrongRevision) {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e, err := b.Get(ctx, "counter")
	if err != nil || string(e.Value) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s (%v), want %d", e.Value, err, workers*each)
	}
}

func TestKVHistoryTrimming(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	b := kvBucket(t, c, waymaker.KVConfig{History: 4})
	var revs []uint64
	for i := range 10 {
		r, err := b.Put(ctx, "k", []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, r)
	}
	h, err := b.History(ctx, "k")
	if err != nil || len(h) != 4 {
		t.Fatalf("History = %d entries, %v; want 4", len(h), err)
	}
	for i, e := range h {
		if string(e.Value) != strconv.Itoa(6+i) || e.Revision != revs[6+i] {
			t.Fatalf("History[%d] = %s@%d", i, e.Value, e.Revision)
		}
	}
	if _, err := b.GetRevision(ctx, "k", revs[5]); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("trimmed revision: %v", err)
	}
	// Default history keeps one entry; 64 is the most.
	b1 := kvBucket(t, c, waymaker.KVConfig{Name: name(t) + "-one"})
	for i := range 3 {
		if _, err := b1.Put(ctx, "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := b1.History(ctx, "k"); err != nil || len(h) != 1 {
		t.Fatalf("default History kept %d, %v", len(h), err)
	}
	if _, err := c.CreateKV(ctx, waymaker.KVConfig{Name: name(t) + "-big", History: 65}); !errors.Is(err, waymaker.ErrInvalidArgument) {
		t.Fatalf("History 65: %v", err)
	}
	// Lowering History trims at once.
	if _, err := c.KeyValue().Update(ctx, waymaker.KVConfig{Name: b.Name(), History: 2}); err != nil {
		t.Fatal(err)
	}
	if h, err := b.History(ctx, "k"); err != nil || len(h) != 2 {
		t.Fatalf("History after lowering = %d, %v", len(h), err)
	}
}

// An entry outlives the bucket TTL only until the leader's next tick: the
// watch sees a purge, and Get answers not_found.
func TestKVTTLExpiry(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	b := kvBucket(t, c, waymaker.KVConfig{TTL: 300 * time.Millisecond})
	w, err := b.Watch(ctx, "ttl.*")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := kvNextEvent(t, w); !ev.InitialDone {
		t.Fatalf("first event %s, want initial done", kvDescribe(ev))
	}
	rev, err := b.Put(ctx, "ttl.k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	put := kvWantPut(t, kvNextEvent(t, w), "ttl.k", "v")
	if _, err := b.Get(ctx, "ttl.k"); err != nil {
		t.Fatalf("Get before expiry: %v", err)
	}
	ev := kvNextEvent(t, w) // waits for the expiry: kvNextEvent has a deadline
	if ev.Delete == nil || ev.Delete.Operation != kv.OpPurge || ev.Delete.Key != "ttl.k" || ev.Delete.Revision <= rev {
		t.Fatalf("after the TTL: %s, want a purge of ttl.k", kvDescribe(ev))
	}
	if lived := ev.Delete.Created.Sub(put.Created); lived < 300*time.Millisecond {
		t.Fatalf("expired after %v, TTL 300ms", lived)
	}
	if _, err := b.Get(ctx, "ttl.k"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Get after expiry: %v", err)
	}
}

func TestKVKeys(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	b := kvBucket(t, c, waymaker.KVConfig{})
	var want []string
	for i := range 2500 { // more than two server batches
		k := fmt.Sprintf("k.%04d", i)
		want = append(want, k)
		if _, err := b.Put(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"x.a.1", "x.b.1", "x.b.2.deep"} {
		if _, err := b.Put(ctx, k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Delete(ctx, "k.0007"); err != nil {
		t.Fatal(err)
	}
	want = slices.Delete(want, 7, 8)

	var got []string
	l := b.KeysMatching(ctx, "k.*")
	for {
		k, err := l.Next()
		if errors.Is(err, io.EOF) && k == "" {
			break // the listing's end
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Keys k.* = %d keys, want %d in order", len(got), len(want))
	}
	for pattern, want := range map[string][]string{
		"x.*.1":  {"x.a.1", "x.b.1"},
		"x.>":    {"x.a.1", "x.b.1", "x.b.2.deep"},
		"x.b.>":  {"x.b.1", "x.b.2.deep"},
		"x.*":    nil,
		"x.a.1":  {"x.a.1"},
		"k.0007": nil,
	} {
		var got []string
		for k, err := range b.KeysMatching(ctx, pattern).All() {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, k)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Keys %q = %v, want %v", pattern, got, want)
		}
	}
	// On the wire the keys come in batches, the last one marked done.
	ks, err := kvpb.NewKVServiceClient(c.Conn()).Keys(ctx, &kvpb.KVServiceKeysRequest{Bucket: b.Name(), Pattern: "k.>", BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	msgs, total := 0, 0
	for {
		m, err := ks.Recv()
		if err != nil {
			t.Fatal(err)
		}
		msgs++
		total += len(m.GetKeys())
		if len(m.GetKeys()) > 100 {
			t.Fatalf("batch of %d keys, asked for 100", len(m.GetKeys()))
		}
		if m.GetDone() {
			break
		}
	}
	if total != len(want) || msgs != (len(want)+99)/100 {
		t.Fatalf("%d keys in %d messages, want %d in %d", total, msgs, len(want), (len(want)+99)/100)
	}
	n := 0
	for _, err := range b.Keys(ctx).All() {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 10 {
			break // stops the stream
		}
	}
	if _, err := b.KeysMatching(ctx, "a.>.b").Next(); !kvIsInvalid(err, "pattern") {
		t.Fatalf("bad pattern: %v", err)
	}
	if _, err := c.KeyValue().Bucket(name(t) + "-missing").Keys(ctx).Next(); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Keys of a missing bucket: %v", err)
	}
}

func TestKVWatch(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	b := kvBucket(t, c, waymaker.KVConfig{History: 10})
	for _, kv := range [][2]string{{"a.1", "x"}, {"b.1", "y"}, {"a.1", "z"}, {"a.2.deep", "w"}} {
		if _, err := b.Put(ctx, kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Delete(ctx, "b.1"); err != nil {
		t.Fatal(err)
	}

	// Initial values: each key's latest entry, in revision order, markers
	// included; then the marker; then live changes.
	w, err := b.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kvWantPut(t, kvNextEvent(t, w), "a.1", "z")
	kvWantPut(t, kvNextEvent(t, w), "a.2.deep", "w")
	if ev := kvNextEvent(t, w); ev.Delete == nil || ev.Delete.Key != "b.1" || ev.Delete.Operation != kv.OpDelete {
		t.Fatalf("got %s, want delete b.1", kvDescribe(ev))
	}
	if ev := kvNextEvent(t, w); !ev.InitialDone {
		t.Fatalf("got %s, want initial done", kvDescribe(ev))
	}
	if _, err := b.Put(ctx, "c", []byte("live")); err != nil {
		t.Fatal(err)
	}
	live := kvWantPut(t, kvNextEvent(t, w), "c", "live")
	if w.Revision() != live.Revision {
		t.Fatalf("Revision() = %d, want %d", w.Revision(), live.Revision)
	}
	w.Stop()
	if ev, err := w.Next(); ev != (waymaker.KVEvent{}) || !errors.Is(err, io.EOF) {
		t.Fatalf("Next after Stop = %s, %v; want the zero event and io.EOF", kvDescribe(ev), err)
	}

	// Wildcards.
	w, err = b.Watch(ctx, "a.*", kv.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	if ev := kvNextEvent(t, w); !ev.InitialDone {
		t.Fatalf("updates-only first event %s", kvDescribe(ev))
	}
	for _, k := range []string{"a.2.deep", "b.2", "a", "a.3"} {
		if _, err := b.Put(ctx, k, []byte("u")); err != nil {
			t.Fatal(err)
		}
	}
	kvWantPut(t, kvNextEvent(t, w), "a.3", "u")
	w.Stop()

	// History, deletes ignored.
	w, err = b.Watch(ctx, "a.1", kv.IncludeHistory(), kv.IgnoreDeletes())
	if err != nil {
		t.Fatal(err)
	}
	kvWantPut(t, kvNextEvent(t, w), "a.1", "x")
	kvWantPut(t, kvNextEvent(t, w), "a.1", "z")
	if ev := kvNextEvent(t, w); !ev.InitialDone {
		t.Fatalf("got %s", kvDescribe(ev))
	}
	if _, err := b.Delete(ctx, "a.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "a.1", []byte("back")); err != nil {
		t.Fatal(err)
	}
	kvWantPut(t, kvNextEvent(t, w), "a.1", "back") // the delete was skipped
	w.Stop()

	// Resume from a revision: every retained change after it.
	w, err = b.WatchAll(ctx, kv.ResumeFromRevision(live.Revision))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for {
		ev := kvNextEvent(t, w)
		if ev.InitialDone {
			break
		}
		if e := ev.Entry(); e.Revision <= live.Revision {
			t.Fatalf("resumed watch delivered revision %d <= %d", e.Revision, live.Revision)
		} else {
			keys = append(keys, e.Key)
		}
	}
	if want := []string{"a.2.deep", "b.2", "a", "a.3", "a.1", "a.1"}; !slices.Equal(keys, want) {
		t.Fatalf("resumed %v, want %v", keys, want)
	}

	// Deleting the bucket ends its watches with not_found.
	if err := c.DeleteKV(ctx, b.Name()); err != nil {
		t.Fatal(err)
	}
	ev, err := w.Next()
	if ev != (waymaker.KVEvent{}) || !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("after bucket delete: %s, %v", kvDescribe(ev), err)
	}
	w.Stop()
	if _, err := b.WatchAll(ctx); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Watch of a missing bucket: %v", err)
	}
}

func TestKVWatchEndsWithContextAndClose(t *testing.T) {
	c := start(t)
	b := kvBucket(t, c, waymaker.KVConfig{})
	wctx, cancel := context.WithCancel(context.Background())
	w, err := b.WatchAll(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev := kvNextEvent(t, w); !ev.InitialDone {
		t.Fatal(kvDescribe(ev))
	}
	cancel()
	if ev, err := w.Next(); ev != (waymaker.KVEvent{}) || !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %s, %v; want the zero event and context.Canceled", kvDescribe(ev), err)
	}

	w, err = b.WatchAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Nobody reads: more events than the watcher buffers, so it is blocked
	// handing one over when Close comes.
	for i := range 300 {
		if _, err := b.Put(testCtx(t, 30*time.Second), fmt.Sprintf("k.%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Close()
	for {
		ev, err := w.Next()
		if ev == (waymaker.KVEvent{}) {
			if !errors.Is(err, waymaker.ErrClosed) {
				t.Fatalf("after Close: %v, want ErrClosed", err)
			}
			break
		}
	}
}

// A watch rides out a server restart: it rebinds from the last revision it
// delivered, and the caller sees every change exactly once, in order.
func TestKVWatchAcrossRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, 2*time.Minute)
	b := kvBucket(t, c, waymaker.KVConfig{})
	const before, after = 40, 40
	for i := range 5 {
		if _, err := b.Put(ctx, fmt.Sprintf("init.%d", i), []byte("i")); err != nil {
			t.Fatal(err)
		}
	}
	w, err := b.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	var got []string
	var lastRev uint64
	collect := func(n int) {
		for len(got) < n {
			ev := kvNextEvent(t, w)
			if ev.InitialDone {
				continue
			}
			e := ev.Entry()
			if e.Revision <= lastRev {
				t.Fatalf("revision %d after %d: duplicate or out of order", e.Revision, lastRev)
			}
			lastRev = e.Revision
			got = append(got, e.Key)
		}
	}
	collect(5)
	for i := range before {
		if _, err := b.Put(ctx, fmt.Sprintf("k.%03d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	collect(5 + before/2) // part of them delivered, the rest in flight or buffered

	srv.Restart()

	for i := before; i < before+after; i++ {
		if _, err := b.Put(ctx, fmt.Sprintf("k.%03d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart() // a second drop, with the watch idle
	if _, err := b.Put(ctx, "last", []byte("v")); err != nil {
		t.Fatal(err)
	}
	collect(5 + before + after + 1)

	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("init.%d", i))
	}
	for i := range before + after {
		want = append(want, fmt.Sprintf("k.%03d", i))
	}
	want = append(want, "last")
	if !slices.Equal(got, want) {
		t.Fatalf("watch across restarts delivered %v, want %v", got, want)
	}
}

func kvIsInvalid(err error, field string) bool {
	var werr *waymaker.Error
	return errors.As(err, &werr) && werr.Kind == waymaker.KindInvalid && strings.HasPrefix(werr.Message, field+":")
}

// Bad input: the SDK refuses it before sending (Kind invalid, naming the
// field); the server refuses it again (invalid_argument, naming the field);
// nothing is stored.
func TestKVBadInput(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	b := kvBucket(t, c, waymaker.KVConfig{MaxValueSize: 16})

	badKeys := []string{"", ".a", "a.", "a..b", "a b", "ключ", "a*", "a>", strings.Repeat("k", 1025)}
	for _, k := range badKeys {
		if _, err := b.Put(ctx, k, []byte("v")); !kvIsInvalid(err, "key") {
			t.Errorf("Put(%q) = %v, want invalid key", k, err)
		}
		if _, err := b.Get(ctx, k); !kvIsInvalid(err, "key") {
			t.Errorf("Get(%q) = %v, want invalid key", k, err)
		}
	}
	if _, err := b.Put(ctx, "k", make([]byte, 17)); !kvIsInvalid(err, "value") {
		t.Errorf("oversized value: %v", err)
	}
	if _, err := b.Watch(ctx, "a.>.b"); !kvIsInvalid(err, "pattern") {
		t.Errorf("bad pattern: %v", err)
	}
	for _, n := range []string{"", "a.b", "a b", "ä", strings.Repeat("n", 257)} {
		if _, err := c.CreateKV(ctx, waymaker.KVConfig{Name: n}); !kvIsInvalid(err, "Name") {
			t.Errorf("CreateKV(%q) = %v, want invalid Name", n, err)
		}
	}
	for field, cfg := range map[string]waymaker.KVConfig{
		"History":      {Name: "x", History: 65},
		"TTL":          {Name: "x", TTL: -1},
		"MaxValueSize": {Name: "x", MaxValueSize: -1},
		"MaxBytes":     {Name: "x", MaxBytes: -1},
	} {
		if _, err := c.CreateKV(ctx, cfg); !kvIsInvalid(err, field) {
			t.Errorf("CreateKV %s: %v", field, err)
		}
	}

	// The server, called directly.
	rpc := kvpb.NewKVServiceClient(c.Conn())
	serverInvalid := func(what string, r interface {
		GetResult() *commonpb.Result
	}, err error, field string) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		res := r.GetResult()
		if res.GetSuccess() || res.GetResultCode() != "invalid_argument" || !strings.HasPrefix(res.GetMessage(), field+":") {
			t.Errorf("%s: result %v, want invalid_argument naming %s", what, res, field)
		}
	}
	for _, k := range badKeys {
		r, err := rpc.Put(ctx, &kvpb.KVServicePutRequest{Bucket: b.Name(), Key: k, Value: []byte("v")})
		serverInvalid("Put key "+strconv.Quote(k), r, err, "key")
		g, err := rpc.Get(ctx, &kvpb.KVServiceGetRequest{Bucket: b.Name(), Key: k})
		serverInvalid("Get key "+strconv.Quote(k), g, err, "key")
	}
	r, err := rpc.Put(ctx, &kvpb.KVServicePutRequest{Bucket: b.Name(), Key: "k", Value: make([]byte, 17)})
	serverInvalid("oversized value", r, err, "value")
	r, err = rpc.Put(ctx, &kvpb.KVServicePutRequest{Bucket: "a.b", Key: "k"})
	serverInvalid("bad bucket", r, err, "bucket")
	u, err := rpc.Update(ctx, &kvpb.KVServiceUpdateRequest{Bucket: b.Name(), Key: "a..b"})
	serverInvalid("Update", u, err, "key")
	for field, cfg := range map[string]*kvpb.KVBucketConfig{
		"config.name":           {Name: "a b"},
		"config.history":        {Name: "x", History: 65},
		"config.ttl_ms":         {Name: "x", TtlMs: -1},
		"config.max_value_size": {Name: "x", MaxValueSize: 1 << 30},
		"config.max_bytes":      {Name: "x", MaxBytes: -1},
	} {
		cr, err := rpc.CreateBucket(ctx, &kvpb.KVServiceCreateBucketRequest{Config: cfg})
		serverInvalid("CreateBucket "+field, cr, err, field)
	}
	cr, err := rpc.CreateBucket(ctx, &kvpb.KVServiceCreateBucketRequest{})
	serverInvalid("CreateBucket without config", cr, err, "config")
	ws, err := rpc.Watch(ctx, &kvpb.KVServiceWatchRequest{Bucket: b.Name(), Pattern: ">.a"})
	if err != nil {
		t.Fatal(err)
	}
	wm, err := ws.Recv()
	serverInvalid("Watch pattern", wm, err, "pattern")
	ks, err := rpc.Keys(ctx, &kvpb.KVServiceKeysRequest{Bucket: b.Name(), BatchSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	km, err := ks.Recv()
	serverInvalid("Keys batch_size", km, err, "batch_size")

	st, err := b.Status(ctx)
	if err != nil || st.Revision != 0 || st.Values != 0 {
		t.Fatalf("bad input changed the bucket: %+v, %v", st, err)
	}
	if _, err := c.KV(ctx, "x"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("a refused CreateBucket created it: %v", err)
	}
}

// MaxBytes refuses writes beyond it with limit_exceeded.
func TestKVMaxBytes(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	b := kvBucket(t, c, waymaker.KVConfig{MaxBytes: 100})
	if _, err := b.Put(ctx, "a", make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "a", make([]byte, 90)); err != nil {
		t.Fatalf("replacing within the limit: %v", err)
	}
	if _, err := b.Put(ctx, "b", make([]byte, 20)); !errors.Is(err, waymaker.ErrLimitExceeded) {
		t.Fatalf("beyond MaxBytes: %v", err)
	}
}

// The server also limits what a bucket may declare: MaxValueSize above the
// server's limit is refused.
func TestKVServerValueLimit(t *testing.T) {
	_, c := startEmbedded(t, waymakertest.WithConfig(func(cfg *server.Config) { cfg.Limits.MaxValueSize = 1000 }))
	ctx := testCtx(t, 30*time.Second)
	if _, err := c.CreateKV(ctx, waymaker.KVConfig{Name: name(t), MaxValueSize: 2000}); !errors.Is(err, waymaker.ErrInvalidArgument) {
		t.Fatalf("MaxValueSize above the server's: %v", err)
	}
	b := kvBucket(t, c, waymaker.KVConfig{})
	if b.Config().MaxValueSize != 1000 {
		t.Fatalf("default MaxValueSize %d, want the server's 1000", b.Config().MaxValueSize)
	}
	if _, err := b.Put(ctx, "k", make([]byte, 1001)); !kvIsInvalid(err, "value") {
		t.Fatalf("oversized: %v", err)
	}
}

// A drop in the middle of the initial values resumes them: each key's
// latest value arrives exactly once, in revision order, and InitialDone
// comes once, after all of them.
func TestKVWatchRestartDuringInitialValues(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, 2*time.Minute)
	b := kvBucket(t, c, waymaker.KVConfig{})
	const keys = 1500 // far more than the watcher and the stream buffer hold
	val := []byte(strings.Repeat("v", 1000))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < keys; i += 8 {
				if _, err := b.Put(ctx, fmt.Sprintf("k.%05d", i), val); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Rewrite some, so their latest revision moves past the others.
	for i := 0; i < keys; i += 100 {
		if _, err := b.Put(ctx, fmt.Sprintf("k.%05d", i), []byte("new")); err != nil {
			t.Fatal(err)
		}
	}
	w, err := b.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	seen := map[string]bool{}
	var lastRev uint64
	initialDone := 0
	read := func(n int) {
		for range n {
			ev := kvNextEvent(t, w)
			if ev.InitialDone {
				initialDone++
				if len(seen) != keys {
					t.Fatalf("InitialDone after %d of %d keys", len(seen), keys)
				}
				continue
			}
			if initialDone > 0 {
				t.Fatalf("entry %s after InitialDone", kvDescribe(ev))
			}
			e := ev.Put
			if e == nil || e.Revision <= lastRev || seen[e.Key] {
				t.Fatalf("event %s after revision %d (seen before: %v)", kvDescribe(ev), lastRev, seen[ev.Entry().Key])
			}
			if i, _ := strconv.Atoi(strings.TrimPrefix(e.Key, "k.")); i%100 == 0 && string(e.Value) != "new" {
				t.Fatalf("%s delivered an old value", e.Key)
			}
			lastRev = e.Revision
			seen[e.Key] = true
		}
	}
	read(100)
	srv.Restart()
	read(keys - 100 + 1)
	if initialDone != 1 {
		t.Fatalf("InitialDone %d times", initialDone)
	}
}

// Everything survives a restart on the same data dir, through a raft
// snapshot (taken every few entries here) and the log after it: buckets,
// values, history, markers and the revision counter.
func TestKVSurvivesRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir(), waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.SnapshotThreshold = 16
		cfg.SnapshotInterval = 10 * time.Millisecond
	}))
	ctx := testCtx(t, time.Minute)
	b := kvBucket(t, c, waymaker.KVConfig{History: 3, TTL: time.Hour})
	for i := range 50 {
		if _, err := b.Put(ctx, fmt.Sprintf("k.%d", i%10), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Delete(ctx, "k.3"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Purge(ctx, "k.4"); err != nil {
		t.Fatal(err)
	}
	before, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := b.History(ctx, "k.5")
	if err != nil {
		t.Fatal(err)
	}
	// Restart only once raft has a snapshot on disk, so the restart goes
	// through Restore and not only through log replay.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if snaps, _ := os.ReadDir(filepath.Join(srv.DataDir(), "snapshots")); len(snaps) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no raft snapshot taken")
		case <-tick.C:
		}
	}

	srv.Restart()

	after, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if *after != *before {
		t.Fatalf("status after restart %+v, before %+v", after, before)
	}
	hist2, err := b.History(ctx, "k.5")
	if err != nil || len(hist2) != len(hist) {
		t.Fatalf("history after restart: %d entries (%v), before %d", len(hist2), err, len(hist))
	}
	for i := range hist {
		a, b := hist2[i], hist[i]
		if a.Revision != b.Revision || string(a.Value) != string(b.Value) || a.Operation != b.Operation || !a.Created.Equal(b.Created) {
			t.Fatalf("history[%d] %+v, before %+v", i, hist2[i], hist[i])
		}
	}
	if _, err := b.Get(ctx, "k.3"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("deleted key after restart: %v", err)
	}
	if e, err := b.Get(ctx, "k.9"); err != nil || string(e.Value) != "49" {
		t.Fatalf("k.9 after restart: %+v, %v", e, err)
	}
	rev, err := b.Put(ctx, "k.0", nil)
	if err != nil || rev != before.Revision+1 {
		t.Fatalf("revision after restart %d (%v), want %d", rev, err, before.Revision+1)
	}
}

// A caller that has an event from Next resumes from Revision without
// missing it or seeing it twice: Revision already counts it.
func TestKVWatchRevisionCountsTheEventNextReturned(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	b := kvBucket(t, c, waymaker.KVConfig{})
	w, err := b.WatchAll(ctx, kv.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := kvNextEvent(t, w); !ev.InitialDone {
		t.Fatalf("got %s, want initial done", kvDescribe(ev))
	}
	for i := range 300 {
		rev, err := b.Put(ctx, "k", []byte(strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		ev := kvNextEvent(t, w)
		if ev.Put == nil || ev.Put.Revision != rev {
			t.Fatalf("put %d: got %s, want the put at revision %d", i, kvDescribe(ev), rev)
		}
		if got := w.Revision(); got < rev {
			t.Fatalf("put %d: Revision() = %d after Next returned revision %d", i, got, rev)
		}
	}
}

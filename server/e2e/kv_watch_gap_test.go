package e2e

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// A live watcher on a bucket with History 1 gets every put of concurrent
// writers, each exactly once, in revision order, with the value put at that
// revision, although each key keeps only its latest value.
func TestKVWatchSeesEveryPutWithHistory1(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 2*time.Minute)
	b := kvBucket(t, c, waymaker.KVConfig{History: 1})
	w, err := b.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := kvNextEvent(t, w); !ev.InitialDone {
		t.Fatalf("first event %s, want initial done", kvDescribe(ev))
	}

	const writers, perWriter, keys = 4, 2500, 8
	type put struct{ key, val string }
	var (
		mu     sync.Mutex
		puts   = map[uint64]put{} // revision -> what was put there
		newest atomic.Uint64      // highest revision a writer has been answered
		wg     sync.WaitGroup
		errs   = make(chan error, writers)
	)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				p := put{fmt.Sprintf("k.%d", (g+i)%keys), fmt.Sprintf("%d-%d", g, i)}
				rev, err := b.Put(ctx, p.key, []byte(p.val))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				puts[rev] = p
				mu.Unlock()
				for {
					n := newest.Load()
					if rev <= n || newest.CompareAndSwap(n, rev) {
						break
					}
				}
			}
		}()
	}

	// Read while the writers write, noting how far behind the watcher ran.
	type got struct {
		rev      uint64
		key, val string
	}
	var seen []got
	var maxLag uint64
	for len(seen) < writers*perWriter {
		ev, err := w.Next()
		if err != nil || ev.Put == nil {
			t.Fatalf("after %d puts: event %s, %v", len(seen), kvDescribe(ev), err)
		}
		if n := newest.Load(); n > ev.Put.Revision && n-ev.Put.Revision > maxLag {
			maxLag = n - ev.Put.Revision
		}
		seen = append(seen, got{ev.Put.Revision, ev.Put.Key, string(ev.Put.Value)})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("watcher ran at most %d revisions behind the writers", maxLag)

	if len(puts) != writers*perWriter {
		t.Fatalf("%d distinct revisions answered for %d puts", len(puts), writers*perWriter)
	}
	for i, g := range seen {
		if i > 0 && g.rev <= seen[i-1].rev {
			t.Fatalf("event %d: revision %d after %d (duplicate or out of order)", i, g.rev, seen[i-1].rev)
		}
		if p, ok := puts[g.rev]; !ok || p.key != g.key || p.val != g.val {
			t.Fatalf("event %d: %s=%s @%d, but %+v was put there", i, g.key, g.val, g.rev, p)
		}
	}
	// As many events as puts, increasing, each one a put: every put, once.

	// Nothing more: the next change is the next event.
	rev, err := b.Put(ctx, "last", nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := kvWantPut(t, kvNextEvent(t, w), "last", ""); e.Revision != rev {
		t.Fatalf("next event @%d, want @%d", e.Revision, rev)
	}
}

var resumeFrom = regexp.MustCompile(`resume from revision (\d+)`)

// A watcher that stops reading while the writers go on falls further behind
// than the server keeps for it: it delivers every change up to where it fell
// behind, in order, then ends with ErrCompacted naming where a watch can
// resume, never with a gap. A watch resumed from there gets the rest.
func TestKVWatchStalledGetsCompacted(t *testing.T) {
	const backlog, backlogBytes = 50, 1 << 20
	srv := waymakertest.Start(t, withSessionMode(), waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.Limits.WatchBacklog, cfg.Limits.WatchBacklogBytes = backlog, backlogBytes
	}))
	// Fixed flow-control windows (which turns gRPC's window growth off), so
	// what the transport buffers for a reader that stops is known: 64 KiB.
	c, err := waymaker.Connect(context.Background(), srv.Addr(), waymaker.WithDialOptions(
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t, 2*time.Minute)
	b := kvBucket(t, c, waymaker.KVConfig{History: 1})
	w, err := b.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if ev := kvNextEvent(t, w); !ev.InitialDone {
		t.Fatalf("first event %s, want initial done", kvDescribe(ev))
	}

	// Stalled: nobody reads while more is written than every buffer on the
	// way holds: the change log 50 changes, the transport 64 KiB (16 of
	// these), the server's batch in hand 256 and the watcher 64 events.
	const puts = 1000
	val := make([]byte, 4<<10)
	var last uint64
	for i := range puts {
		copy(val, strconv.Itoa(i)+".")
		if last, err = b.Put(ctx, "k", val); err != nil {
			t.Fatal(err)
		}
	}

	var prev uint64
	n := 0
	for {
		ev, err := w.Next()
		if ev == (waymaker.KVEvent{}) {
			if !errors.Is(err, waymaker.ErrCompacted) || !errors.Is(err, transport.ErrCompacted) {
				t.Fatalf("after %d events the watch ended with %v, want ErrCompacted", n, err)
			}
			m := resumeFrom.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("compacted error names no revision to resume from: %v", err)
			}
			from, _ := strconv.ParseUint(m[1], 10, 64)
			if from < prev || from >= last {
				t.Fatalf("resume point %d: the watcher delivered up to %d, the last put is %d", from, prev, last)
			}
			t.Logf("delivered %d of %d puts, then %v", n, puts, err)
			resumed := watchFrom(t, ctx, b, from)
			if len(resumed) != int(last-from) || resumed[0] != from+1 || resumed[len(resumed)-1] != last {
				t.Fatalf("resumed from %d: %d events (%d..), want %d..%d", from, len(resumed), resumed[0], from+1, last)
			}
			break
		}
		if err != nil || ev.Put == nil {
			t.Fatalf("event %s, %v", kvDescribe(ev), err)
		}
		if ev.Put.Revision != prev+1 {
			t.Fatalf("revision %d after %d: a gap", ev.Put.Revision, prev)
		}
		if want := strconv.Itoa(int(ev.Put.Revision-1)) + "."; string(ev.Put.Value[:len(want)]) != want {
			t.Fatalf("revision %d holds put %q", ev.Put.Revision, ev.Put.Value[:8])
		}
		prev = ev.Put.Revision
		n++
	}
	if n >= puts {
		t.Fatalf("all %d puts delivered: the watcher never fell behind", n)
	}

	// Resuming from before what is kept fails at once, the same way.
	if _, err := b.WatchAll(ctx, kv.ResumeFromRevision(1)); !errors.Is(err, waymaker.ErrCompacted) {
		t.Fatalf("resume from revision 1: %v, want ErrCompacted", err)
	}
	// Watching again starts over from the current value.
	w2, err := b.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if ev := kvNextEvent(t, w2); ev.Put == nil || ev.Put.Revision != last {
		t.Fatalf("new watch: %s, want the put @%d", kvDescribe(ev), last)
	}
}

// watchFrom resumes a watch from rev and answers the revisions of its
// backlog (up to its InitialDone marker).
func watchFrom(t *testing.T, ctx context.Context, b *waymaker.KVBucket, rev uint64) []uint64 {
	t.Helper()
	w, err := b.WatchAll(ctx, kv.ResumeFromRevision(rev))
	if err != nil {
		t.Fatalf("resume from %d: %v", rev, err)
	}
	defer w.Stop()
	var out []uint64
	for {
		ev := kvNextEvent(t, w)
		if ev.InitialDone {
			return out
		}
		out = append(out, ev.Entry().Revision)
	}
}

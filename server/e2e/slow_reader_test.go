package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// The bound each subscription gets in these tests: small, so that what the
// writers write is many times what one may hold.
const slowBuffer, slowBufferBytes = 64, 16 << 10

// startSlowServer starts a server with a metrics listener (to read the
// subscription gauges) and the small subscription bound.
func startSlowServer(t *testing.T, more func(*server.Config)) *waymakertest.Server {
	t.Helper()
	return waymakertest.Start(t, withSuite(t, withSessionMode(), waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.MetricsListen = "127.0.0.1:0"
		cfg.Limits.SubscriptionBuffer, cfg.Limits.SubscriptionBufferBytes = slowBuffer, slowBufferBytes
		if more != nil {
			more(cfg)
		}
	}))...)
}

// connectFixedWindows connects with fixed 64 KiB flow-control windows
// (which turns gRPC's window growth off), so a reader that stops holds the
// server back after 64 KiB rather than after what the window grew to.
func connectFixedWindows(t *testing.T, addr string) *waymaker.Client {
	t.Helper()
	opts := append(suiteClientOptions(), waymaker.WithSessions(sessionsOn()), waymaker.WithDialOptions(
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10)))
	c, err := waymaker.Connect(context.Background(), addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var heldGauge = regexp.MustCompile(`(?m)^waymaker_subscription_held_(events|bytes) (\S+)$`)

// held scrapes what the server's subscriptions hold now.
func held(t *testing.T, srv *waymakertest.Server) (events, bytes int64) {
	t.Helper()
	resp, err := http.Get("http://" + srv.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	ms := heldGauge.FindAllStringSubmatch(string(body), -1)
	if len(ms) != 2 {
		t.Fatalf("/metrics has %d of the two subscription gauges", len(ms))
	}
	for _, m := range ms {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		if m[1] == "events" {
			events = int64(v)
		} else {
			bytes = int64(v)
		}
	}
	return events, bytes
}

// waitHeld waits until ok accepts what the subscriptions hold.
func waitHeld(t *testing.T, srv *waymakertest.Server, what string, ok func(events, bytes int64) bool) (int64, int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		events, bytes := held(t, srv)
		if ok(events, bytes) {
			return events, bytes
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriptions hold %d events, %d bytes; waited for %s", events, bytes, what)
		}
		<-tick.C
	}
}

// writeSampling runs workers goroutines that between them call write(i)
// once for every i below n (goroutine g the i that are g modulo workers),
// and samples what srv holds every 20ms until they have all ended. It
// returns the most events and the most bytes a sample saw. A goroutine
// stops at its first error; once all have ended, an error fails t, the
// message beginning with what.
func writeSampling(t *testing.T, srv *waymakertest.Server, what string, workers, n int, write func(i int) error) (maxEvents, maxBytes int64) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += workers {
				if err := write(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	for sampling := true; sampling; {
		select {
		case <-ended:
			sampling = false
		case <-time.After(20 * time.Millisecond):
		}
		e, by := held(t, srv)
		maxEvents, maxBytes = max(maxEvents, e), max(maxBytes, by)
	}
	close(errs)
	for err := range errs {
		t.Fatalf("%s: %v", what, err)
	}
	return maxEvents, maxBytes
}

// A KV watcher whose reader stops while writers go on: the server holds at
// most one bounded batch for it (Limits.SubscriptionBuffer and
// SubscriptionBufferBytes) however much is written, the writers finish,
// another watcher on the same connection sees every change as it comes,
// and when the reader reads again it gets every revision, in order, once,
// from where it stopped.
func TestKVWatchSlowReaderHoldsOneBatch(t *testing.T) {
	const writers, puts, keys = 8, 10000, 16
	srv := startSlowServer(t, func(cfg *server.Config) { cfg.Limits.WatchBacklog = 2 * puts })
	writer := connect(t, srv.Addr())
	reader := connectFixedWindows(t, srv.Addr())
	ctx := testCtx(t, 2*time.Minute)
	bucket := name(t)
	b := kvBucket(t, writer, waymaker.KVConfig{Name: bucket, History: 1})
	rb, err := reader.KV(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := rb.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	live, err := rb.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Stop()
	for _, w := range []*waymaker.KVWatcher{slow, live} {
		if ev := kvNextEvent(t, w); !ev.InitialDone {
			t.Fatalf("first event %s, want initial done", kvDescribe(ev))
		}
	}

	// The live watcher reads everything while the writers write; slow
	// reads nothing.
	liveDone := make(chan error, 1)
	go func() {
		var prev uint64
		for prev < puts {
			ev, err := live.Next()
			if err != nil || ev.Put == nil || ev.Put.Revision != prev+1 {
				liveDone <- fmt.Errorf("live watcher after @%d: %s, %v", prev, kvDescribe(ev), err)
				return
			}
			prev = ev.Put.Revision
		}
		liveDone <- nil
	}()
	val := func(rev uint64) string { return fmt.Sprintf("%0200d", rev) } // ~200 bytes, checkable
	maxEvents, maxBytes := writeSampling(t, srv, "a writer", writers, puts, func(i int) error {
		// The value names its put; the revision is checked below.
		_, err := b.Put(ctx, fmt.Sprintf("k.%d", i%keys), []byte(val(uint64(i))))
		return err
	})
	if err := <-liveDone; err != nil {
		t.Fatal(err)
	}
	// Two subscriptions, each at most one batch (its first event may pass
	// the byte bound alone).
	if maxEvents > 2*slowBuffer || maxBytes > 2*(slowBufferBytes+300) {
		t.Fatalf("while %d puts went on, the subscriptions held up to %d events, %d bytes; the bound is %d events, %d bytes each", puts, maxEvents, maxBytes, slowBuffer, slowBufferBytes)
	}
	// Now only the stalled watch holds something: the rest of the batch its
	// handler was sending when gRPC's flow control stopped it.
	events, bytes := waitHeld(t, srv, "the stalled watch alone", func(e, _ int64) bool { return e <= slowBuffer })
	if events < 1 || bytes > slowBufferBytes+300 {
		t.Fatalf("the stalled watch holds %d events, %d bytes; want 1..%d events, at most %d bytes", events, bytes, slowBuffer, slowBufferBytes)
	}
	t.Logf("during %d puts the subscriptions held at most %d events, %d bytes; the stalled watch holds %d, %d", puts, maxEvents, maxBytes, events, bytes)

	// The reader reads again: every revision, in order, once. Each time
	// it makes room, the handler reads one more batch, never more than the
	// bound although thousands of changes are waiting.
	var prev uint64
	for prev < puts {
		ev, err := slow.Next()
		if err != nil || ev.Put == nil || ev.Put.Revision != prev+1 {
			t.Fatalf("resumed watcher after @%d: %s, %v", prev, kvDescribe(ev), err)
		}
		prev = ev.Put.Revision
		if prev%250 == 0 {
			if e, by := held(t, srv); e > slowBuffer || by > slowBufferBytes+300 {
				t.Fatalf("at @%d of %d the stalled watch holds %d events, %d bytes; the bound is %d, %d", prev, puts, e, by, slowBuffer, slowBufferBytes)
			}
		}
	}
	if r, err := b.Put(ctx, "last", nil); err != nil {
		t.Fatal(err)
	} else if e := kvWantPut(t, kvNextEvent(t, slow), "last", ""); e.Revision != r {
		t.Fatalf("next event @%d, want @%d", e.Revision, r)
	}
	slow.Stop()
	live.Stop()
	waitHeld(t, srv, "nothing once the watches stopped", func(e, by int64) bool { return e == 0 && by == 0 })
}

// A consumer whose reader stops while publishers go on: the server holds
// at most one bounded deliver batch for its Consume stream, the publishes
// complete, another consumer on the same connection gets every message,
// and when the reader reads again it gets every message (a redelivery is
// allowed, a loss is not).
func TestConsumerSlowReaderHoldsOneBatch(t *testing.T) {
	const publishers, msgs = 8, 5000
	srv := startSlowServer(t, nil)
	writer := connect(t, srv.Addr())
	reader := connectFixedWindows(t, srv.Addr())
	ctx := testCtx(t, 2*time.Minute)
	stream := name(t)
	s := newStream(t, writer, waymaker.StreamConfig{Name: stream, Subjects: []string{stream + ".>"}})
	rs, err := reader.GetStream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	consume := func(durable string) *waymaker.Messages {
		_, it := pushMessages(t, ctx, rs, waymaker.ConsumerConfig{DurableName: durable, AckWait: time.Minute, MaxAckPending: 2 * msgs})
		return it
	}
	slow, live := consume("slow"), consume("live")

	// readAll reads it until every message was seen, acking each.
	readAll := func(it *waymaker.Messages, check func()) error {
		seen := map[string]bool{}
		for n := 0; len(seen) < msgs; n++ {
			m, err := it.Next()
			if err != nil {
				return fmt.Errorf("after %d distinct messages: %w", len(seen), err)
			}
			seen[string(m.Payload)] = true
			if err := m.Ack(ctx); err != nil {
				return err
			}
			if check != nil && n%250 == 0 {
				check()
			}
		}
		return nil
	}
	liveDone := make(chan error, 1)
	go func() { liveDone <- readAll(live, nil) }()
	maxEvents, maxBytes := writeSampling(t, srv, "a publisher", publishers, msgs, func(i int) error {
		_, err := s.Publish(ctx, stream+".m", []byte(fmt.Sprintf("%0200d", i)))
		return err
	})
	if err := <-liveDone; err != nil {
		t.Fatalf("the live consumer: %v", err)
	}
	if maxEvents > 2*slowBuffer || maxBytes > 2*(slowBufferBytes+300) {
		t.Fatalf("while %d publishes went on, the Consume streams held up to %d messages, %d bytes; the bound is %d, %d each", msgs, maxEvents, maxBytes, slowBuffer, slowBufferBytes)
	}
	t.Logf("during %d publishes the Consume streams held at most %d messages, %d bytes", msgs, maxEvents, maxBytes)

	// The reader reads again: every message, one batch at a time.
	if err := readAll(slow, func() {
		if e, by := held(t, srv); e > slowBuffer || by > slowBufferBytes+300 {
			t.Errorf("the slow consumer's stream holds %d messages, %d bytes; the bound is %d, %d", e, by, slowBuffer, slowBufferBytes)
		}
	}); err != nil {
		t.Fatalf("the slow consumer: %v", err)
	}
}

package e2e

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// frameCounter counts the messages the server receives on Subscribe
// streams: one subscribe frame per subscription (and credit and cancel
// frames, none of which an idle subscription sends).
type frameCounter struct {
	mu sync.Mutex
	n  int
}

type methodKey struct{}

func (f *frameCounter) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, methodKey{}, info.FullMethodName)
}

func (f *frameCounter) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InPayload); ok && ctx.Value(methodKey{}) == subscribeMethod {
		f.mu.Lock()
		f.n++
		f.mu.Unlock()
	}
}

func (f *frameCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (f *frameCounter) HandleConn(context.Context, stats.ConnStats) {}

func (f *frameCounter) frames() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// TestIdleSubscriptionsHoldNoGoroutine: an idle KV watcher, push
// consumer and held lock (its event stream open) carried as
// subscriptions hold no goroutine, client or server (both are in this
// process), so 10,000 of them cost memory, not 20,000 goroutine stacks;
// and a parked watcher and consumer still deliver what comes next.
func TestIdleSubscriptionsHoldNoGoroutine(t *testing.T) {
	const n = 60 // of each kind
	fc := &frameCounter{}
	srv := waymakertest.Start(t, waymakertest.WithConfig(func(c *server.Config) {
		c.GRPCOptions = append(c.GRPCOptions, grpc.StatsHandler(fc))
	}))
	cl, err := waymaker.Connect(context.Background(), srv.Addr(), waymaker.WithSessions(true))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t, 60*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: "idle"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cl.Streams().Create(ctx, stream.Config{Name: "idle", Subjects: []string{"idle.>"}})
	if err != nil {
		t.Fatal(err)
	}
	// Warm up: the session and subscription streams, and the goroutines a
	// connection keeps whatever it carries.
	if _, err := b.Put(ctx, "warm", []byte("v")); err != nil {
		t.Fatal(err)
	}
	w0, err := b.Watch(ctx, "warm", kv.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	w0.Stop()
	base := runtime.NumGoroutine()
	framesBase := fc.frames()

	watchers := make([]*kv.Watcher, n)
	msgs := make([]*stream.Messages, n)
	locks := make([]*lock.Lock, n)
	for i := range n {
		if watchers[i], err = b.Watch(ctx, fmt.Sprintf("k%d", i), kv.UpdatesOnly()); err != nil {
			t.Fatal(err)
		}
		defer watchers[i].Stop()
		c, err := s.CreateConsumer(ctx, stream.ConsumerConfig{DurableName: fmt.Sprintf("c%d", i), FilterSubjects: []string{fmt.Sprintf("idle.%d", i)}, AckPolicy: stream.AckExplicit})
		if err != nil {
			t.Fatal(err)
		}
		if msgs[i], err = c.Messages(ctx); err != nil {
			t.Fatal(err)
		}
		defer msgs[i].Stop()
		if locks[i], err = cl.Locks().Acquire(ctx, fmt.Sprintf("idle/%d", i), lock.Config{LeaseTTL: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = locks[i].Unlock(context.Background()) }()
	}
	// Every subscription has reached the server (a lock opens its event
	// stream a moment after the grant).
	waitFor(t, 20*time.Second, fmt.Sprintf("the server to see %d subscribe frames", 3*n), func() bool { return fc.frames()-framesBase >= 3*n })
	// What opening them started winds down; what stays is per item.
	const slack = 20
	waitFor(t, 20*time.Second, fmt.Sprintf("%d idle watchers, consumers and locks to hold at most %d goroutines more than none", 3*n, slack),
		func() bool { return runtime.NumGoroutine()-base <= slack })

	for i := range n {
		if _, err := b.Put(ctx, fmt.Sprintf("k%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Publish(ctx, fmt.Sprintf("idle.%d", i), []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		ev, err := watchers[i].Next()
		if err == nil && ev.InitialDone {
			ev, err = watchers[i].Next()
		}
		if err != nil || ev.Put == nil || ev.Put.Key != fmt.Sprintf("k%d", i) {
			t.Fatalf("parked watcher %d: %+v, %v; want the put of k%d", i, ev, err, i)
		}
		m, err := msgs[i].Next()
		if err != nil || m.Subject != fmt.Sprintf("idle.%d", i) {
			t.Fatalf("parked consumer %d: %v, %v; want the message on idle.%d", i, m, err, i)
		}
	}
}

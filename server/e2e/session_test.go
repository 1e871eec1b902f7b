package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// sessionsEnv picks the wire path the suite runs on: WAYMAKER_E2E_SESSIONS
// "on" (the default: the SDK carries unary calls on session streams) or
// "off" (the servers offer no sessions and the clients this suite builds
// turn them off, so every call is a plain unary call). CI runs the suite
// both ways.
const sessionsEnv = "WAYMAKER_E2E_SESSIONS"

// sessionsOn reports the run's session mode; TestMain has refused any
// other value than "", "on" and "off".
func sessionsOn() bool { return os.Getenv(sessionsEnv) != "off" }

func checkSessionsEnv() error {
	switch v := os.Getenv(sessionsEnv); v {
	case "", "on", "off":
		return nil
	default:
		return fmt.Errorf("%s=%q: want on or off", sessionsEnv, v)
	}
}

// withSessionMode makes a test server offer sessions or not, as the run's
// mode says.
func withSessionMode() waymakertest.Option {
	return waymakertest.WithConfig(func(c *server.Config) { c.DisableSessions = !sessionsOn() })
}

// rpcCounter is a server stats handler counting the RPCs (HTTP/2 streams)
// that reach the server, by method.
type rpcCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *rpcCounter) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	r.mu.Lock()
	r.n[info.FullMethodName]++
	r.mu.Unlock()
	return ctx
}
func (r *rpcCounter) HandleRPC(context.Context, stats.RPCStats) {}
func (r *rpcCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (r *rpcCounter) HandleConn(context.Context, stats.ConnStats) {}

func (r *rpcCounter) count(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[method]
}

const (
	putMethod  = "/waymaker.v1.KVService/Put"
	callMethod = "/waymaker.session.v1.SessionService/Call"
)

// sessionRun makes 100 puts through a client built with opts against a
// server counting its RPCs, once a first put has been answered, and
// answers how many Put RPCs (warm: once a session stream is open) and session streams the server saw.
func sessionRun(t *testing.T, disable, warm bool, opts ...waymaker.Option) (puts, streams int) {
	t.Helper()
	rc := &rpcCounter{n: map[string]int{}}
	srv := waymakertest.Start(t, withRequestIDCheck(t), waymakertest.WithConfig(func(c *server.Config) {
		c.DisableSessions = disable
		c.GRPCOptions = append(c.GRPCOptions, grpc.StatsHandler(rc))
	}))
	cl, err := waymaker.Connect(context.Background(), srv.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	ctx := testCtx(t, 20*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	// The first calls go unary while the session stream opens in the
	// background; warm up until a put goes on a stream (the server saw no
	// Put RPC for it). The server seeing the stream begin is not enough:
	// the client stores the stream only after NewStream returns, and a
	// put in between still goes unary.
	deadline := time.Now().Add(10 * time.Second)
	for warm {
		unary := rc.count(putMethod)
		if _, err := b.Put(ctx, "warm", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if rc.count(putMethod) == unary {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("every put went unary for 10s (%d session streams seen)", rc.count(callMethod))
		}
	}
	before := rc.count(putMethod)
	for i := range 100 {
		if _, err := b.Put(ctx, "k", fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := b.Get(ctx, "k"); err != nil || string(e.Value) != "v99" {
		t.Fatalf("get after the puts: %+v, %v", e, err)
	}
	return rc.count(putMethod) - before, rc.count(callMethod)
}

// TestSessionsCarryTheCalls: with a server that offers sessions, the
// SDK's calls travel on session streams: 100 puts open no Put RPC.
func TestSessionsCarryTheCalls(t *testing.T) {
	puts, streams := sessionRun(t, false, true, waymaker.WithSessions(true))
	if puts != 0 || streams == 0 || streams > 4 {
		t.Fatalf("100 puts on sessions: %d Put RPCs and %d session streams, want 0 and 1 to 4", puts, streams)
	}
}

// TestSessionsOffMakesUnaryCalls: WithSessions(false), or a server
// without sessions, makes every call unary.
func TestSessionsOffMakesUnaryCalls(t *testing.T) {
	for _, c := range []struct {
		name    string
		disable bool
		opts    []waymaker.Option
	}{
		{"client option", false, []waymaker.Option{waymaker.WithSessions(false)}},
		{"server without sessions", true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			puts, streams := sessionRun(t, c.disable, false, c.opts...)
			if puts != 100 || streams != 0 {
				t.Fatalf("100 puts: %d Put RPCs and %d session streams, want 100 and 0", puts, streams)
			}
		})
	}
}

const (
	watchMethod     = "/waymaker.v1.KVService/Watch"
	subscribeMethod = "/waymaker.session.v1.SessionService/Subscribe"
)

// watchRun opens 20 watchers through a client built with opts against a
// server counting its RPCs, checks that each sees a put, and answers how
// many Watch RPCs and Subscribe streams the server saw.
func watchRun(t *testing.T, disable bool, opts ...waymaker.Option) (watches, subscribes int) {
	t.Helper()
	rc := &rpcCounter{n: map[string]int{}}
	srv := waymakertest.Start(t, waymakertest.WithConfig(func(c *server.Config) {
		c.DisableSessions = disable
		c.GRPCOptions = append(c.GRPCOptions, grpc.StatsHandler(rc))
	}))
	cl, err := waymaker.Connect(context.Background(), srv.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	ctx := testCtx(t, 20*time.Second)
	b, err := cl.KeyValue().Create(ctx, kv.Config{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	ws := make([]*kv.Watcher, 20)
	for i := range ws {
		if ws[i], err = b.Watch(ctx, "k", kv.UpdatesOnly()); err != nil {
			t.Fatal(err)
		}
		defer ws[i].Stop()
	}
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		ev, err := w.Next()
		if err == nil && ev.InitialDone {
			ev, err = w.Next()
		}
		if err != nil || ev.Put == nil || string(ev.Put.Value) != "v" {
			t.Fatalf("watcher %d: %+v, %v; want the put", i, ev, err)
		}
	}
	return rc.count(watchMethod), rc.count(subscribeMethod)
}

// TestSubscriptionsCarryTheWatches: with a server that offers sessions,
// twenty watchers of one client share one Subscribe stream and open no
// Watch RPC of their own; with sessions off each has its own stream.
func TestSubscriptionsCarryTheWatches(t *testing.T) {
	if w, s := watchRun(t, false, waymaker.WithSessions(true)); w != 0 || s != 1 {
		t.Fatalf("20 watchers on sessions: %d Watch RPCs and %d Subscribe streams, want 0 and 1", w, s)
	}
	for _, c := range []struct {
		name    string
		disable bool
		opts    []waymaker.Option
	}{
		{"client option", false, []waymaker.Option{waymaker.WithSessions(false)}},
		{"server without sessions", true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if w, s := watchRun(t, c.disable, c.opts...); w != 20 || s != 0 {
				t.Fatalf("20 watchers: %d Watch RPCs and %d Subscribe streams, want 20 and 0", w, s)
			}
		})
	}
}

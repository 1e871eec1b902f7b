// Package overhead measures what the SDK adds to a call, against the raw
// generated stubs. It holds only benchmarks (tools/bench runs them for
// BENCHMARKS.md) and is imported by nothing.
package overhead

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// BenchmarkOverhead measures what the SDK adds to a call: each pair runs the
// same RPC through the raw generated stub (raw) and through the SDK
// (wrapper), on the same connection, against a minimal in-process
// implementation of the generated service that answers a fixed success. The
// server's work is identical, so the difference is the SDK's. Goals: under
// 5% extra time and at most 3 extra allocations per call.
//
//	go test -run '^$' -bench '^BenchmarkOverhead' -benchmem ./internal/overhead/
//
// tools/bench runs this and puts the figures in BENCHMARKS.md. The pairs
// and the services they call are listed in suites.
func BenchmarkOverhead(b *testing.B) {
	f := startServer(b)
	for _, s := range suites {
		for _, p := range s.pairs(f) {
			b.Run(p.name+"/raw", func(b *testing.B) { runOp(b, p.raw) })
			b.Run(p.name+"/wrapper", func(b *testing.B) { runOp(b, p.wrapper) })
		}
	}
}

// BenchmarkOverheadPaired times the same pairs call by call in alternation
// (raw then wrapper, then wrapper then raw, ...), so that a shared machine's
// drift falls on both alike; it reports raw-ns/op, wrapper-ns/op and their
// ratio, from the medians of the per-call times. BenchmarkOverhead gives the
// allocation counts.
func BenchmarkOverheadPaired(b *testing.B) {
	f := startServer(b)
	for _, s := range suites {
		for _, p := range s.pairs(f) {
			b.Run(p.name, func(b *testing.B) {
				ctx := context.Background()
				if err := p.raw(ctx); err != nil {
					b.Fatal(err)
				}
				if err := p.wrapper(ctx); err != nil {
					b.Fatal(err)
				}
				// Medians of per-call times, not means: on a shared machine a
				// few calls stall for milliseconds, and a mean follows them.
				var raw, wrapped []time.Duration
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					first, second, t1, t2 := p.raw, p.wrapper, &raw, &wrapped
					if i%2 == 1 {
						first, second, t1, t2 = p.wrapper, p.raw, &wrapped, &raw
					}
					t0 := time.Now()
					if err := first(ctx); err != nil {
						b.Fatal(err)
					}
					m := time.Now()
					if err := second(ctx); err != nil {
						b.Fatal(err)
					}
					*t1 = append(*t1, m.Sub(t0))
					*t2 = append(*t2, time.Since(m))
				}
				rm, wm := medianDuration(raw), medianDuration(wrapped)
				b.ReportMetric(float64(rm.Nanoseconds()), "raw-ns/op")
				b.ReportMetric(float64(wm.Nanoseconds()), "wrapper-ns/op")
				b.ReportMetric(float64(wm)/float64(rm), "wrapper/raw")
			})
		}
	}
}

func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// suite is one subsystem's share of the benchmarks.
type suite struct {
	// serve registers the minimal implementation of the subsystem's
	// service on the in-process server; nil when the pairs call a service
	// another suite registers.
	serve func(s grpc.ServiceRegistrar)
	// pairs returns the raw/wrapper pairs measured on it.
	pairs func(f *fixture) []pair
}

// suites is everything BenchmarkOverhead and BenchmarkOverheadPaired
// measure. A new subsystem adds one line here and a <subsystem>_bench_test.go
// with its service and pairs.
var suites = []suite{
	{nil, transportPairs}, // on the KV service
	{serveKV, kvPairs},
	{serveLock, lockPairs},
	{serveStream, streamPairs},
	{serveCollections, collectionsPairs},
	{serveSketch, sketchPairs},
	{serveObjstore, objstorePairs},
	{serveCache, cachePairs},
}

// pair is one call made both ways.
type pair struct {
	name         string
	raw, wrapper func(ctx context.Context) error
}

// fixture is one connection to the in-process server, shared by the raw
// stubs and the SDK's subsystem clients.
type fixture struct {
	conn *transport.Conn
}

func startServer(b *testing.B) *fixture {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	rec := &recorder{ServiceRegistrar: srv, methods: map[string]methodImpl{}}
	for _, s := range suites {
		if s.serve != nil {
			s.serve(rec)
		}
	}
	ss := &sessionServer{methods: rec.methods}
	if sessionsOn() {
		sessionpb.RegisterSessionServiceServer(srv, ss)
	}
	served := make(chan struct{})
	go func() { _ = srv.Serve(lis); close(served) }()
	conn, err := transport.Dial(context.Background(), []string{lis.Addr().String()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-served
	})
	if sessionsOn() {
		// The first calls go unary while the session stream opens.
		rpc := kvpb.NewKVServiceClient(conn)
		deadline := time.Now().Add(5 * time.Second)
		for ss.envelopes.Load() == 0 {
			if time.Now().After(deadline) {
				b.Fatal("no session stream opened within 5s")
			}
			if _, err := rpc.Get(context.Background(), &kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return &fixture{conn: conn}
}

func runOp(b *testing.B, op func(context.Context) error) {
	ctx := context.Background()
	if err := op(ctx); err != nil { // connect and warm up outside the timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := op(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

var okResult = &commonpb.Result{Success: true}

// transportPairs measure transport.Call, the path every unary wrapper
// takes: deadline, retry policy and result check around the stub.
func transportPairs(f *fixture) []pair {
	rpc := kvpb.NewKVServiceClient(f.conn)
	return []pair{{
		name: "transport.Call",
		raw: func(ctx context.Context) error {
			_, err := rpc.Get(ctx, &kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"})
			return err
		},
		wrapper: func(ctx context.Context) error {
			req := &kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"}
			_, err := transport.Call(ctx, f.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceGetResponse, error) {
				return rpc.Get(ctx, req)
			})
			return err
		},
	}}
}

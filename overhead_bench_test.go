package waymaker_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// BenchmarkOverhead measures what the SDK adds to a call: each pair runs the
// same RPC through the raw generated stub (raw) and through the SDK
// (wrapper), on the same connection, against a minimal in-process
// implementation of the generated service that answers a fixed success. The
// server's work is identical, so the difference is the SDK's. Goals: under
// 5% extra time and at most 3 extra allocations per call.
//
//	go test -run '^$' -bench '^BenchmarkOverhead' -benchmem .
//
// tools/bench runs this and puts the figures in BENCHMARKS.md. Each
// subsystem adds its pairs in overhead_<subsystem>_bench_test.go by
// appending to overheadPairs from an init function, and registers its
// minimal service in overheadServices.
func BenchmarkOverhead(b *testing.B) {
	f := startOverheadServer(b)
	for _, mk := range overheadPairs {
		for _, p := range mk(f) {
			b.Run(p.name+"/raw", func(b *testing.B) { runOverheadOp(b, p.raw) })
			b.Run(p.name+"/wrapper", func(b *testing.B) { runOverheadOp(b, p.wrapper) })
		}
	}
}

// BenchmarkOverheadPaired times the same pairs call by call in alternation
// (raw then wrapper, then wrapper then raw, ...), so that a shared machine's
// drift falls on both alike; it reports raw-ns/op, wrapper-ns/op and their
// ratio, from the medians of the per-call times. BenchmarkOverhead gives the
// allocation counts.
func BenchmarkOverheadPaired(b *testing.B) {
	f := startOverheadServer(b)
	for _, mk := range overheadPairs {
		for _, p := range mk(f) {
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

type overheadPair struct {
	name         string
	raw, wrapper func(ctx context.Context) error
}

// overheadFixture is one connection to the in-process server, shared by raw
// stubs and SDK clients.
type overheadFixture struct {
	conn   *transport.Conn
	client *waymaker.Client
}

var (
	// overheadServices register minimal implementations on the server.
	overheadServices []func(s *grpc.Server)
	// overheadPairs return the raw/wrapper pairs of one subsystem.
	overheadPairs []func(f *overheadFixture) []overheadPair
)

func startOverheadServer(b *testing.B) *overheadFixture {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	for _, reg := range overheadServices {
		reg(srv)
	}
	served := make(chan struct{})
	go func() { _ = srv.Serve(lis); close(served) }()
	conn, err := transport.Dial(context.Background(), []string{lis.Addr().String()})
	if err != nil {
		b.Fatal(err)
	}
	client := waymaker.NewClient(conn)
	b.Cleanup(func() {
		client.Close()
		srv.Stop()
		<-served
	})
	return &overheadFixture{conn: conn, client: client}
}

func runOverheadOp(b *testing.B, op func(context.Context) error) {
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

// overheadKV answers Get and Put with a fixed success, so that the KV
// pairs below, and the transport pair, measure client-side work only.
type overheadKV struct {
	kvpb.UnimplementedKVServiceServer
	entry *kvpb.KVEntry
}

func (s *overheadKV) Get(context.Context, *kvpb.KVServiceGetRequest) (*kvpb.KVServiceGetResponse, error) {
	return &kvpb.KVServiceGetResponse{Result: okResult, Entry: s.entry}, nil
}

func (s *overheadKV) Put(context.Context, *kvpb.KVServicePutRequest) (*kvpb.KVServicePutResponse, error) {
	return &kvpb.KVServicePutResponse{Result: okResult, Revision: 7}, nil
}

func init() {
	overheadServices = append(overheadServices, func(s *grpc.Server) {
		kvpb.RegisterKVServiceServer(s, &overheadKV{entry: &kvpb.KVEntry{Bucket: "b", Key: "k", Value: []byte("value-of-sixteen"), Revision: 7}})
	})
	// transport.Call is the path every unary wrapper takes: deadline, retry
	// policy and result check around the stub.
	overheadPairs = append(overheadPairs, func(f *overheadFixture) []overheadPair {
		rpc := kvpb.NewKVServiceClient(f.conn)
		return []overheadPair{{
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
	})
}

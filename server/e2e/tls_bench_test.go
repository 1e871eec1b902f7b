package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// BenchmarkTLSCost measures what mutual TLS costs a call: the same
// operation against a plaintext server and a mutual-TLS one (embedded,
// in memory), alternating in one loop so that both see the same load on a
// shared machine, at 1 and 16 concurrent callers. It reports each side's
// time per operation and their ratio, tls/plain.
//
//	cd server && go test -run '^$' -bench 'TLSCost' -benchtime 2000x -count 5 ./e2e/
func BenchmarkTLSCost(b *testing.B) {
	ca := waymakertest.NewCA(b)
	ctx := context.Background()
	plainSrv := waymakertest.Start(b)
	tlsSrv := waymakertest.Start(b, waymakertest.WithMutualTLS(ca))
	dial := func(addr string, opts ...waymaker.Option) *waymaker.Client {
		c, err := waymaker.Connect(ctx, addr, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return c
	}
	clients := [2]*waymaker.Client{
		dial(plainSrv.Addr()),
		dial(tlsSrv.Addr(), waymaker.WithTLSFiles(ca.CAFile, ca.ClientCertFile, ca.ClientKeyFile)),
	}
	// One operation per side (0 plain, 1 TLS), set up once per benchmark.
	type opFn func(side int) error
	ops := []struct {
		name  string
		setup func(b *testing.B) opFn
	}{
		{"kv.put", func(b *testing.B) opFn {
			var buckets [2]*waymaker.KVBucket
			for i, c := range clients {
				var err error
				if buckets[i], err = c.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "tlscost"}); err != nil {
					b.Fatal(err)
				}
			}
			return func(side int) error { _, err := buckets[side].Put(ctx, "k", kvBenchValue); return err }
		}},
		{"kv.get", func(b *testing.B) opFn {
			var buckets [2]*waymaker.KVBucket
			for i, c := range clients {
				var err error
				if buckets[i], err = c.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "tlscost"}); err != nil {
					b.Fatal(err)
				}
				if _, err := buckets[i].Put(ctx, "k", kvBenchValue); err != nil {
					b.Fatal(err)
				}
			}
			return func(side int) error { _, err := buckets[side].Get(ctx, "k"); return err }
		}},
		{"publish", func(b *testing.B) opFn {
			var streams [2]*waymaker.Stream
			n := name(b)
			for i, c := range clients {
				var err error
				if streams[i], err = c.CreateStream(ctx, waymaker.StreamConfig{Name: n, Subjects: []string{n + ".>"}}); err != nil {
					b.Fatal(err)
				}
			}
			subj := n + ".bench"
			return func(side int) error { _, err := streams[side].Publish(ctx, subj, payload128); return err }
		}},
	}
	for _, op := range ops {
		for _, conc := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/c=%d", op.name, conc), func(b *testing.B) {
				do := op.setup(b)
				var spent [2]atomic.Int64
				var failed atomic.Value
				next := atomic.Int64{}
				b.ResetTimer()
				var wg sync.WaitGroup
				for range conc {
					wg.Go(func() {
						for {
							i := next.Add(1) - 1
							if i >= int64(b.N) {
								return
							}
							// The order alternates: the second call of a
							// pair is not measured the same as the first.
							for k := range 2 {
								side := (int(i) + k) % 2
								t0 := time.Now()
								if err := do(side); err != nil {
									failed.Store(err)
									return
								}
								spent[side].Add(int64(time.Since(t0)))
							}
						}
					})
				}
				wg.Wait()
				if err, ok := failed.Load().(error); ok {
					b.Fatal(err)
				}
				plain, tlsNs := float64(spent[0].Load())/float64(b.N), float64(spent[1].Load())/float64(b.N)
				b.ReportMetric(plain, "plain-ns/op")
				b.ReportMetric(tlsNs, "tls-ns/op")
				b.ReportMetric(tlsNs/plain, "tls/plain")
			})
		}
	}
}

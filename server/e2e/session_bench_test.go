package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// BenchmarkSessionVsUnary measures the session path against plain unary
// calls through the whole SDK and server: one embedded server, two clients
// (sessions on, sessions off), the same operations. c=1 alternates the
// two call by call and reports the medians; c=16 alternates 100 ms windows
// of 16 workers per path and reports the median ops/s of the windows, so
// a shared machine's drift falls on both alike.
//
//	go test -run '^$' -bench BenchmarkSessionVsUnary ./e2e/
func BenchmarkSessionVsUnary(b *testing.B) {
	srv := waymakertest.Start(b)
	ctx := context.Background()
	sess, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithSessions(true))
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	unary, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithSessions(false))
	if err != nil {
		b.Fatal(err)
	}
	defer unary.Close()
	if _, err := sess.KeyValue().Create(ctx, kv.Config{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 128)
	if _, err := sess.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: "h"}); err != nil {
		b.Fatal(err)
	}
	hashes := map[*waymaker.Client]*collections.HashStore{}
	for _, c := range []*waymaker.Client{sess, unary} {
		h, err := c.Collections().HashStore(ctx, "h")
		if err != nil {
			b.Fatal(err)
		}
		hashes[c] = h
	}
	if _, err := hashes[sess].Set(ctx, "key", map[string][]byte{"f1": value}); err != nil {
		b.Fatal(err)
	}
	type op func(c *waymaker.Client, i int) error
	ops := []struct {
		name string
		op   op
	}{
		{"kv.put", func(c *waymaker.Client, i int) error {
			_, err := c.KeyValue().Bucket("bench").Put(ctx, fmt.Sprint("k", i%64), value)
			return err
		}},
		{"kv.get", func(c *waymaker.Client, i int) error {
			_, err := c.KeyValue().Bucket("bench").Get(ctx, "k1")
			return err
		}},
		{"collections.hash-set", func(c *waymaker.Client, i int) error {
			_, err := hashes[c].Set(ctx, "key", map[string][]byte{fmt.Sprint("f", i%64): value})
			return err
		}},
		{"collections.hash-get", func(c *waymaker.Client, i int) error {
			_, err := hashes[c].Get(ctx, "key", "f1")
			return err
		}},
	}
	for _, o := range ops {
		// Warm both (the session stream opens in the background).
		for i := range 200 {
			if err := o.op(sess, i); err != nil {
				b.Fatal(err)
			}
			if err := o.op(unary, i); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(o.name+"/c=1", func(b *testing.B) {
			var ts, tu []time.Duration
			for i := 0; b.Loop(); i++ {
				first, second, t1, t2 := sess, unary, &ts, &tu
				if i%2 == 1 {
					first, second, t1, t2 = unary, sess, &tu, &ts
				}
				t0 := time.Now()
				if err := o.op(first, i); err != nil {
					b.Fatal(err)
				}
				m := time.Now()
				if err := o.op(second, i); err != nil {
					b.Fatal(err)
				}
				*t1 = append(*t1, m.Sub(t0))
				*t2 = append(*t2, time.Since(m))
			}
			ms, mu := medianDur(ts), medianDur(tu)
			b.ReportMetric(float64(ms.Microseconds()), "session-µs/op")
			b.ReportMetric(float64(mu.Microseconds()), "unary-µs/op")
			b.ReportMetric(float64(ms)/float64(mu), "session/unary")
		})
		b.Run(o.name+"/c=16", func(b *testing.B) {
			var rs, ru []float64
			for i := 0; b.Loop(); i++ {
				c, r := sess, &rs
				if i%2 == 1 {
					c, r = unary, &ru
				}
				*r = append(*r, window(b, c, o.op, 16, 100*time.Millisecond))
			}
			s, u := medianF(rs), medianF(ru)
			b.ReportMetric(s, "session-ops/s")
			b.ReportMetric(u, "unary-ops/s")
			if u > 0 {
				b.ReportMetric(s/u, "session/unary")
			}
		})
	}
}

// window runs op on n workers for d and answers the ops/s.
func window(b *testing.B, c *waymaker.Client, op func(*waymaker.Client, int) error, n int, d time.Duration) float64 {
	var done atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for w := range n {
		wg.Go(func() {
			for i := w * 1000; time.Now().Before(stop); i++ {
				if err := op(c, i); err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

func medianDur(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func medianF(fs []float64) float64 {
	if len(fs) == 0 {
		return 0
	}
	slices.Sort(fs)
	return fs[len(fs)/2]
}

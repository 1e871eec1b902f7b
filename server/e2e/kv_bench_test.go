package e2e

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
)

func kvBenchBucket(b *testing.B) (*waymaker.KVBucket, context.Context) {
	b.Helper()
	_, bucket, ctx := kvBenchClientBucket(b)
	return bucket, ctx
}

func kvBenchClientBucket(b *testing.B) (*waymaker.Client, *waymaker.KVBucket, context.Context) {
	b.Helper()
	c := start(b)
	ctx := context.Background()
	n := name(b)
	bucket, err := c.CreateKV(ctx, waymaker.KVConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteKV(context.Background(), n) })
	return c, bucket, ctx
}

var kvBenchValue = make([]byte, 128)

func BenchmarkKVPut(b *testing.B) {
	bucket, ctx := kvBenchBucket(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := bucket.Put(ctx, "k", kvBenchValue); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKVGet(b *testing.B) {
	bucket, ctx := kvBenchBucket(b)
	if _, err := bucket.Put(ctx, "k", kvBenchValue); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bucket.Get(ctx, "k"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKVGetParallel(b *testing.B) {
	bucket, ctx := kvBenchBucket(b)
	if _, err := bucket.Put(ctx, "k", kvBenchValue); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bucket.Get(ctx, "k"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkKVPutParallel16 is kv.put at c=16 (16 goroutines whatever
// GOMAXPROCS is), the load whose proposals the server commits in groups;
// BENCHMARKS.md summarises its CPU and allocation profiles.
func BenchmarkKVPutParallel16(b *testing.B) {
	bucket, ctx := kvBenchBucket(b)
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bucket.Put(ctx, "k", kvBenchValue); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkKVUpdate(b *testing.B) {
	bucket, ctx := kvBenchBucket(b)
	rev, err := bucket.Put(ctx, "k", kvBenchValue)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rev, err = bucket.Update(ctx, "k", kvBenchValue, rev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKVWatchFanout100 measures one Put reaching 100 watchers of the
// bucket: each iteration returns once every watcher has the change.
func BenchmarkKVWatchFanout100(b *testing.B) {
	const watchers = 100
	bucket, ctx := kvBenchBucket(b)
	got := make(chan struct{}, watchers*4)
	ws := make([]*waymaker.KVWatcher, watchers)
	done := make(chan struct{}, watchers)
	for i := range ws {
		w, err := bucket.WatchAll(ctx, waymaker.KVUpdatesOnly())
		if err != nil {
			b.Fatal(err)
		}
		ws[i] = w
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				ev, err := w.Next()
				if err != nil || ev == (waymaker.KVEvent{}) {
					return
				}
				if ev.Put != nil {
					got <- struct{}{}
				}
			}
		}()
	}
	b.Cleanup(func() {
		for _, w := range ws {
			w.Stop()
		}
		for range ws {
			<-done
		}
	})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := bucket.Put(ctx, fmt.Sprintf("k.%d", i%64), kvBenchValue); err != nil {
			b.Fatal(err)
		}
		for range watchers {
			<-got
		}
	}
}

// BenchmarkKVPutFenced measures what a fence costs a put: the same put
// without and with kv.WithFence, on one server, side by side (the fence
// check is a map lookup in apply; the rest is the fence's bytes on the
// wire and in the log).
func BenchmarkKVPutFenced(b *testing.B) {
	c, bucket, ctx := kvBenchClientBucket(b)
	l, err := c.AcquireLock(ctx, name(b), waymaker.LockConfig{LeaseTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Unlock(context.Background()) })
	fence := kv.WithFence(l.Fence())
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bucket.Put(ctx, "k", kvBenchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fenced", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bucket.Put(ctx, "k", kvBenchValue, fence); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Alternating the two in one loop exposes both to the same load on a
	// shared machine, so their ratio is steadier than two separate runs'.
	b.Run("interleaved", func(b *testing.B) {
		// The order alternates too: the second put of a pair is not
		// measured the same as the first.
		var plain, fenced time.Duration
		timed := func(opts ...kv.WriteOption) time.Duration {
			t0 := time.Now()
			if _, err := bucket.Put(ctx, "k", kvBenchValue, opts...); err != nil {
				b.Fatal(err)
			}
			return time.Since(t0)
		}
		for i := 0; b.Loop(); i++ {
			if i%2 == 0 {
				plain += timed()
				fenced += timed(fence)
			} else {
				fenced += timed(fence)
				plain += timed()
			}
		}
		b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N), "plain-ns/put")
		b.ReportMetric(float64(fenced.Nanoseconds())/float64(b.N), "fenced-ns/put")
		b.ReportMetric(float64(fenced)/float64(plain), "fenced/plain")
	})
}

package e2e

import (
	"context"
	"fmt"
	"testing"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

func kvBenchBucket(b *testing.B) (*waymaker.KVBucket, context.Context) {
	b.Helper()
	c := start(b)
	ctx := context.Background()
	n := name(b)
	bucket, err := c.CreateKV(ctx, waymaker.KVConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteKV(context.Background(), n) })
	return bucket, ctx
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

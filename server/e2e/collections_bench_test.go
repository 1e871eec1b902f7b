package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// Collections benchmarks: the SDK against an embedded server (or
// WAYMAKER_ADDR), one operation per iteration, 128-byte values.

var collBenchValue = make([]byte, 128)

func collBenchClient(b *testing.B) (*waymaker.Client, context.Context, string) {
	b.Helper()
	return start(b), context.Background(), name(b)
}

func BenchmarkCollectionsHashSet(b *testing.B) {
	c, ctx, n := collBenchClient(b)
	h, err := c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteHashStore(context.Background(), n) })
	fields := map[string][]byte{"field": collBenchValue}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Set(ctx, "key", fields); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCollectionsHashGet(b *testing.B) {
	c, ctx, n := collBenchClient(b)
	h, err := c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteHashStore(context.Background(), n) })
	if _, err := h.Set(ctx, "key", map[string][]byte{"field": collBenchValue}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Get(ctx, "key", "field"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCollectionsHashGetParallel(b *testing.B) {
	c, ctx, n := collBenchClient(b)
	h, err := c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteHashStore(context.Background(), n) })
	if _, err := h.Set(ctx, "key", map[string][]byte{"field": collBenchValue}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Get(ctx, "key", "field"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCollectionsSetAdd(b *testing.B) {
	c, ctx, n := collBenchClient(b)
	s, err := c.CreateSetStore(ctx, waymaker.SetStoreConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteSetStore(context.Background(), n) })
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Add(ctx, "key", "member-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCollectionsSetIsMember(b *testing.B) {
	c, ctx, n := collBenchClient(b)
	s, err := c.CreateSetStore(ctx, waymaker.SetStoreConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteSetStore(context.Background(), n) })
	if _, err := s.Add(ctx, "key", "member"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.IsMember(ctx, "key", "member"); err != nil {
			b.Fatal(err)
		}
	}
}

func collBenchQueue(b *testing.B) (*waymaker.Queue, context.Context) {
	c, ctx, n := collBenchClient(b)
	q, err := c.CreateQueue(ctx, waymaker.QueueConfig{Name: n, VisibilityTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteQueue(context.Background(), n) })
	return q, ctx
}

func BenchmarkCollectionsQueuePush(b *testing.B) {
	q, ctx := collBenchQueue(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := q.Push(ctx, collBenchValue); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCollectionsQueuePushPopAck is one message's whole life: three
// replicated commands.
func BenchmarkCollectionsQueuePushPopAck(b *testing.B) {
	q, ctx := collBenchQueue(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := q.Push(ctx, collBenchValue); err != nil {
			b.Fatal(err)
		}
		m, err := q.Pop(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Ack(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

package e2e

import (
	"context"
	"fmt"
	"testing"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

func benchBloom(b *testing.B) (*waymaker.Bloom, context.Context) {
	b.Helper()
	c := start(b)
	ctx := context.Background()
	n := name(b)
	bf, err := c.CreateBloom(ctx, waymaker.BloomConfig{Name: n, Capacity: 1_000_000, ErrorRate: 0.01})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteSketch(context.Background(), n) })
	return bf, ctx
}

// benchKeys returns n distinct items, made before the timer starts.
func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "item-%d", i)
	}
	return keys
}

// BenchmarkSketchBloomAdd: one BF.ADD per call (a raft apply each).
func BenchmarkSketchBloomAdd(b *testing.B) {
	bf, ctx := benchBloom(b)
	keys := benchKeys(1 << 16)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := bf.Add(ctx, keys[i&(len(keys)-1)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSketchBloomMAdd100: BF.MADD of 100 items per call; ns/op is per call.
func BenchmarkSketchBloomMAdd100(b *testing.B) {
	bf, ctx := benchBloom(b)
	keys := benchKeys(1 << 16)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		off := (i * 100) & (len(keys) - 1)
		if off+100 > len(keys) {
			off = 0
		}
		if _, err := bf.MAdd(ctx, keys[off:off+100]...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSketchBloomExists: one BF.EXISTS per call (a local read).
func BenchmarkSketchBloomExists(b *testing.B) {
	bf, ctx := benchBloom(b)
	keys := benchKeys(1 << 10)
	if _, err := bf.MAdd(ctx, keys...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := bf.Exists(ctx, keys[i&(len(keys)-1)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSketchBloomExistsParallel(b *testing.B) {
	bf, ctx := benchBloom(b)
	keys := benchKeys(1 << 10)
	if _, err := bf.MAdd(ctx, keys...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := bf.Exists(ctx, keys[i&(len(keys)-1)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSketchHLLAdd: one PFADD of one item per call.
func BenchmarkSketchHLLAdd(b *testing.B) {
	c := start(b)
	ctx := context.Background()
	n := name(b)
	h, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteSketch(context.Background(), n) })
	keys := benchKeys(1 << 16)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := h.Add(ctx, keys[i&(len(keys)-1)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSketchHLLAdd100: PFADD of 100 items per call; ns/op is per call.
func BenchmarkSketchHLLAdd100(b *testing.B) {
	c := start(b)
	ctx := context.Background()
	n := name(b)
	h, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteSketch(context.Background(), n) })
	keys := benchKeys(1 << 16)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		off := (i * 100) & (len(keys) - 1)
		if off+100 > len(keys) {
			off = 0
		}
		if _, err := h.Add(ctx, keys[off:off+100]...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSketchHLLCount: PFCOUNT on a 14-bit HyperLogLog (a local read
// that scans 16,384 registers).
func BenchmarkSketchHLLCount(b *testing.B) {
	c := start(b)
	ctx := context.Background()
	n := name(b)
	h, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: n})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.DeleteSketch(context.Background(), n) })
	if _, err := h.Add(ctx, benchKeys(10_000)...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Count(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

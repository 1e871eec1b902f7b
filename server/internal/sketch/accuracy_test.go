package sketch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The accuracy tests use fixed seeds, so they are deterministic: each
// asserts the bound the issue names on one reproducible stream.

func TestHLLAccuracy(t *testing.T) {
	for _, n := range []int{100_000, 1_000_000} {
		h := newHLL(defaultPrecision)
		buf := make([]byte, 0, 32)
		for i := range n {
			buf = fmt.Appendf(buf[:0], "hll-seed-7-item-%d", i)
			h.add(hash64(buf))
		}
		got := float64(estimate(h))
		if e := math.Abs(got-float64(n)) / float64(n); e >= 0.02 {
			t.Errorf("n=%d: estimate %v, error %.4f, want < 0.02", n, got, e)
		} else {
			t.Logf("n=%d: estimate %v, error %.4f", n, got, e)
		}
	}
}

func TestHLLSmallAndMerge(t *testing.T) {
	h := newHLL(defaultPrecision)
	if estimate(h) != 0 {
		t.Fatalf("empty estimate %d", estimate(h))
	}
	for i := range 10 {
		h.add(hash64(fmt.Appendf(nil, "x%d", i)))
	}
	if got := estimate(h); got != 10 {
		t.Fatalf("10 items estimate %d", got)
	}
	if h.add(hash64([]byte("x3"))) {
		t.Fatal("re-adding an item changed a register")
	}
	o := newHLL(defaultPrecision)
	for i := 5; i < 20; i++ {
		o.add(hash64(fmt.Appendf(nil, "x%d", i)))
	}
	if got := estimate(h, o); got != 20 {
		t.Fatalf("union estimate %d, want 20", got)
	}
	h.merge(o)
	if got := estimate(h); got != 20 {
		t.Fatalf("merged estimate %d, want 20", got)
	}
}

func TestBloomAccuracy(t *testing.T) {
	b := newBloomFilter(100_000, 0.01, defaultExpansion, false)
	rng := rand.New(rand.NewPCG(1, 2))
	added := make(map[uint64]bool, 100_000)
	keys := make([][]byte, 0, 100_000)
	for len(keys) < 100_000 {
		k := rng.Uint64()
		if added[k] {
			continue
		}
		added[k] = true
		item := fmt.Appendf(nil, "member-%016x", k)
		keys = append(keys, item)
		b.add(item)
	}
	if len(b.subs) != 1 {
		t.Fatalf("%d sub-filters at exactly capacity, want 1", len(b.subs))
	}
	for _, k := range keys {
		if !b.exists(k) {
			t.Fatalf("false negative for %q", k)
		}
	}
	fp, probes := 0, 0
	for probes < 100_000 {
		k := rng.Uint64()
		if added[k] {
			continue
		}
		probes++
		if b.exists(fmt.Appendf(nil, "member-%016x", k)) {
			fp++
		}
	}
	rate := float64(fp) / float64(probes)
	t.Logf("false-positive rate %.4f over %d probes", rate, probes)
	if rate >= 0.015 {
		t.Fatalf("false-positive rate %.4f, want < 0.015", rate)
	}
}

func TestBloomScales(t *testing.T) {
	b := newBloomFilter(100, 0.01, 2, false)
	for i := range 1000 {
		if !b.add(fmt.Appendf(nil, "k%d", i)) && i < 100 {
			t.Fatalf("item %d reported as present", i)
		}
	}
	if len(b.subs) != 4 || b.totalCapacity() != 100+200+400+800 {
		t.Fatalf("%d sub-filters, capacity %d; want 4 and 1500", len(b.subs), b.totalCapacity())
	}
	for i := range 1000 {
		if !b.exists(fmt.Appendf(nil, "k%d", i)) {
			t.Fatalf("false negative k%d after scaling", i)
		}
	}
	if b.subs[1].f.Cap() <= b.subs[0].f.Cap() {
		t.Fatal("second sub-filter is not larger")
	}
}

// zipfStream draws n items from a Zipf distribution over vocab items with a
// fixed seed and returns them with their true counts.
func zipfStream(seed uint64, n int, vocab uint64) ([]string, map[string]int64) {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, seed+1)), 1.2, 1, vocab-1)
	stream := make([]string, n)
	truth := map[string]int64{}
	for i := range stream {
		s := fmt.Sprintf("z%d", z.Uint64())
		stream[i] = s
		truth[s]++
	}
	return stream, truth
}

func TestCMSAccuracy(t *testing.T) {
	const eps, delta = 0.001, 0.01
	w, d := cmsDimensions(eps, delta)
	c := newCMS(uint32(w), uint32(d))
	stream, truth := zipfStream(3, 200_000, 50_000)
	rng := rand.New(rand.NewPCG(4, 5))
	var n int64
	for _, s := range stream {
		inc := int64(1 + rng.IntN(3))
		truth[s] += inc - 1
		n += inc
		c.incr(hash64([]byte(s)), inc)
	}
	if c.total != n {
		t.Fatalf("total %d, want %d", c.total, n)
	}
	over := 0
	for s, want := range truth {
		got := c.query(hash64([]byte(s)))
		if got < want {
			t.Fatalf("%s: estimate %d under true count %d", s, got, want)
		}
		if float64(got-want) > eps*float64(n) {
			over++
		}
	}
	frac := float64(over) / float64(len(truth))
	t.Logf("width %d depth %d: %d of %d items over by more than εN (%.5f)", w, d, over, len(truth), frac)
	if frac >= delta {
		t.Fatalf("%.4f of items over by more than εN, want < %v", frac, delta)
	}
}

// TestTopKZipf: the true top 10 of a Zipf stream all appear in a K=10
// list, at width K·ln(K) (the usual sizing) and at a generous width.
func TestTopKZipf(t *testing.T) {
	for _, wd := range [][2]uint32{{23, 7}, {1000, 5}} {
		tk := newTopK(10, wd[0], wd[1], defaultTopKDecay)
		stream, truth := zipfStream(9, 200_000, 100_000)
		for _, s := range stream {
			tk.incr([]byte(s), hash64([]byte(s)), 1)
		}
		type kv struct {
			item  string
			count int64
		}
		all := make([]kv, 0, len(truth))
		for s, c := range truth {
			all = append(all, kv{s, c})
		}
		slices.SortFunc(all, func(a, b kv) int { return int(b.count - a.count) })
		for _, x := range all[:10] {
			if !tk.contains([]byte(x.item)) {
				t.Errorf("width %d depth %d: true top-10 item %s (count %d) not in the list %v", wd[0], wd[1], x.item, x.count, tk.list())
			}
		}
		if l := tk.list(); len(l) != 10 || l[0].count < l[9].count {
			t.Fatalf("list %v", l)
		}
	}
}

func TestTDigestAccuracy(t *testing.T) {
	td := newTDigest(100)
	rng := rand.New(rand.NewPCG(11, 12))
	batch := make([]float64, 0, 1000)
	for range 100 {
		batch = batch[:0]
		for range 1000 {
			batch = append(batch, rng.Float64())
		}
		td.add(batch)
	}
	if td.total != 100_000 {
		t.Fatalf("total %v", td.total)
	}
	for _, c := range []struct{ q, tol float64 }{{0.5, 0.01}, {0.1, 0.01}, {0.9, 0.01}, {0.01, 0.002}, {0.99, 0.002}} {
		got := td.quantile(c.q)
		if math.Abs(got-c.q) >= c.tol {
			t.Errorf("Q(%v) = %v, off by %v, want < %v", c.q, got, math.Abs(got-c.q), c.tol)
		}
	}
	t.Logf("%d centroids", len(td.means))
}

// TestHLLHistogramTracksRegisters: the incremental histogram always equals
// one rebuilt from the registers, through adds, merges and a restore.
func TestHLLHistogramTracksRegisters(t *testing.T) {
	a, b := newHLL(10), newHLL(10)
	for i := range 20_000 {
		a.add(hash64(fmt.Appendf(nil, "a%d", i)))
		b.add(hash64(fmt.Appendf(nil, "b%d", i%7000)))
	}
	a.merge(b)
	want := *a
	want.rebuildHist()
	if want.hist != a.hist {
		t.Fatal("histogram drifted from the registers")
	}
	e := &enc{}
	a.encode(e)
	r := decodeHLL(&dec{b: e.b})
	if r == nil || r.hist != a.hist || estimate(r) != estimate(a) {
		t.Fatal("restored HLL differs")
	}
}

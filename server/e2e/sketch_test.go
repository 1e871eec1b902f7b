package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// sketchBatches splits items into calls of at most n, so big streams cost few
// round trips (and stay fast under -race).
func sketchBatches[T any](items []T, n int) [][]T {
	var out [][]T
	for len(items) > n {
		out = append(out, items[:n])
		items = items[n:]
	}
	return append(out, items)
}

func sketchItems(prefix string, from, to int) [][]byte {
	out := make([][]byte, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Appendf(nil, "%s-%d", prefix, i))
	}
	return out
}

func TestSketchBloom(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 2*time.Minute)
	n := name(t)
	b, err := c.CreateBloom(ctx, waymaker.BloomConfig{Name: n, Capacity: 100_000, ErrorRate: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	added, err := b.Add(ctx, []byte("first"))
	if err != nil || !added {
		t.Fatalf("Add new = %v, %v", added, err)
	}
	if added, _ = b.Add(ctx, []byte("first")); added {
		t.Fatal("Add of a present item reported new")
	}
	members := sketchItems("member", 0, 100_000-1)
	newCount := 0
	for _, batch := range sketchBatches(members, 10_000) {
		res, err := b.MAdd(ctx, batch...)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range res {
			if a {
				newCount++
			}
		}
	}
	card, err := b.Card(ctx)
	if err != nil || card != uint64(1+newCount) {
		t.Fatalf("Card = %d, %v; want %d", card, err, 1+newCount)
	}
	for _, batch := range sketchBatches(members, 10_000) {
		ex, err := b.MExists(ctx, batch...)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(ex, false); i >= 0 {
			t.Fatalf("false negative for %s", batch[i])
		}
	}
	fp := 0
	for _, batch := range sketchBatches(sketchItems("probe", 0, 100_000), 10_000) {
		ex, err := b.MExists(ctx, batch...)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ex {
			if e {
				fp++
			}
		}
	}
	if rate := float64(fp) / 100_000; rate >= 0.015 {
		t.Fatalf("false-positive rate %.4f over 100,000 probes, want < 0.015", rate)
	}
	if ok, _ := b.Exists(ctx, []byte("member-5")); !ok {
		t.Fatal("Exists(member-5) = false")
	}
	// Past capacity the filter scales by adding a sub-filter.
	if _, err := b.MAdd(ctx, sketchItems("more", 0, 5000)...); err != nil {
		t.Fatal(err)
	}
	info, err := b.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Filters != 2 || info.Capacity != 300_000 || info.Config.Expansion != 2 || info.SizeBytes <= 0 {
		t.Fatalf("Info after scaling = %+v", info)
	}

	// A non-scaling filter refuses adds past its capacity, whole.
	ns, err := c.CreateBloom(ctx, waymaker.BloomConfig{Name: n + "-ns", Capacity: 3, ErrorRate: 0.01, NonScaling: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ns.MAdd(ctx, []byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.MAdd(ctx, []byte("c"), []byte("d")); !errors.Is(err, waymaker.ErrLimitExceeded) {
		t.Fatalf("MAdd past capacity = %v, want ErrLimitExceeded", err)
	}
	if card, _ := ns.Card(ctx); card != 2 {
		t.Fatalf("refused MAdd changed the filter: Card = %d", card)
	}
}

func TestSketchHLL(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 2*time.Minute)
	n := name(t)
	h, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: n})
	if err != nil {
		t.Fatal(err)
	}
	changed := false
	for _, batch := range sketchBatches(sketchItems("visitor", 0, 100_000), 10_000) {
		ch, err := h.Add(ctx, batch...)
		if err != nil {
			t.Fatal(err)
		}
		changed = changed || ch
	}
	if !changed {
		t.Fatal("adding 100,000 new items changed no register")
	}
	if ch, err := h.Add(ctx, []byte("visitor-1"), []byte("visitor-2")); err != nil || ch {
		t.Fatalf("re-adding = %v, %v; want no change", ch, err)
	}
	count, err := h.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e := math.Abs(float64(count)-100_000) / 100_000; e >= 0.02 {
		t.Fatalf("Count = %d, error %.4f, want < 0.02", count, e)
	}
	o, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: n + "-o"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Add(ctx, sketchItems("visitor", 90_000, 110_000)...); err != nil {
		t.Fatal(err)
	}
	union, err := h.Count(ctx, o.Name())
	if err != nil || math.Abs(float64(union)-110_000)/110_000 >= 0.02 {
		t.Fatalf("union Count = %d, %v; want about 110,000", union, err)
	}
	merged, err := h.Merge(ctx, o.Name())
	if err != nil || merged != union {
		t.Fatalf("Merge = %d, %v; want %d", merged, err, union)
	}
	info, err := h.Info(ctx)
	if err != nil || info.Config.Precision != 14 || info.Count != merged || info.SizeBytes != 1<<14 {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	p10, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: n + "-p10", Precision: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Merge(ctx, p10.Name()); !errors.Is(err, waymaker.ErrConflict) || !strings.Contains(err.Error(), "sources[0]") {
		t.Fatalf("merging precisions 14 and 10 = %v, want ErrConflict naming sources[0]", err)
	}
	if after, _ := h.Count(ctx); after != merged {
		t.Fatalf("refused merge changed the count: %d", after)
	}
}

func TestSketchCMS(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 2*time.Minute)
	n := name(t)
	const eps, delta = 0.001, 0.01
	m, err := c.CreateCMS(ctx, waymaker.CMSConfig{Name: n, ErrorRate: eps, Probability: delta})
	if err != nil {
		t.Fatal(err)
	}
	info, err := m.Info(ctx)
	if err != nil || info.Width != 2000 || info.Depth != 7 {
		t.Fatalf("Info = %+v, %v; want 2000×7", info, err)
	}
	cnt, err := m.IncrBy(ctx, []byte("a"), 3)
	if err != nil || cnt != 3 {
		t.Fatalf("IncrBy = %d, %v", cnt, err)
	}
	z := rand.NewZipf(rand.New(rand.NewPCG(21, 22)), 1.1, 1, 20_000)
	truth := map[string]int64{"a": 3}
	var stream []waymaker.SketchIncrement
	for range 100_000 {
		item := fmt.Sprintf("z%d", z.Uint64())
		truth[item]++
		stream = append(stream, waymaker.SketchIncrement{Item: []byte(item), N: 1})
	}
	for _, batch := range sketchBatches(stream, 10_000) {
		counts, err := m.MIncrBy(ctx, batch...)
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != len(batch) {
			t.Fatalf("%d counts for %d increments", len(counts), len(batch))
		}
	}
	total := int64(100_003)
	keys := make([]string, 0, len(truth))
	for k := range truth {
		keys = append(keys, k)
	}
	over := 0
	for _, batch := range sketchBatches(keys, 5000) {
		its := make([][]byte, len(batch))
		for i, k := range batch {
			its[i] = []byte(k)
		}
		got, err := m.Query(ctx, its...)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range batch {
			if got[i] < truth[k] {
				t.Fatalf("%s: estimate %d under true count %d", k, got[i], truth[k])
			}
			if float64(got[i]-truth[k]) > eps*float64(total) {
				over++
			}
		}
	}
	if frac := float64(over) / float64(len(keys)); frac >= delta {
		t.Fatalf("%.4f of items over by more than εN, want < %v", frac, delta)
	}
	if info, _ := m.Info(ctx); info.Count != total {
		t.Fatalf("Count = %d, want %d", info.Count, total)
	}
	// Weighted merge: dest = 1·dest + 2·other.
	o, err := c.CreateCMS(ctx, waymaker.CMSConfig{Name: n + "-o", Width: 2000, Depth: 7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.IncrBy(ctx, []byte("a"), 10); err != nil {
		t.Fatal(err)
	}
	before, _ := m.Query(ctx, []byte("a"))
	if err := m.Merge(ctx, waymaker.SketchMergeSource{Name: n}, waymaker.SketchMergeSource{Name: o.Name(), Weight: 2}); err != nil {
		t.Fatal(err)
	}
	after, _ := m.Query(ctx, []byte("a"))
	if after[0] != before[0]+20 {
		t.Fatalf("after merge a = %d, want %d", after[0], before[0]+20)
	}
	small, err := c.CreateCMS(ctx, waymaker.CMSConfig{Name: n + "-s", Width: 10, Depth: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Merge(ctx, waymaker.SketchMergeSource{Name: small.Name()}); !errors.Is(err, waymaker.ErrConflict) || !strings.Contains(err.Error(), "sources[0]") {
		t.Fatalf("merging 10-wide into 2000-wide = %v, want ErrConflict naming sources[0]", err)
	}
	if same, _ := m.Query(ctx, []byte("a")); same[0] != after[0] {
		t.Fatal("refused merge changed counts")
	}
}

func TestSketchTopK(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 2*time.Minute)
	n := name(t)
	k, err := c.CreateTopK(ctx, waymaker.TopKConfig{Name: n, K: 10, Width: 1000, Depth: 5})
	if err != nil {
		t.Fatal(err)
	}
	z := rand.NewZipf(rand.New(rand.NewPCG(31, 32)), 1.2, 1, 50_000)
	truth := map[string]int{}
	var stream [][]byte
	for range 100_000 {
		item := fmt.Sprintf("z%d", z.Uint64())
		truth[item]++
		stream = append(stream, []byte(item))
	}
	dropped := 0
	for _, batch := range sketchBatches(stream, 10_000) {
		d, err := k.Add(ctx, batch...)
		if err != nil {
			t.Fatal(err)
		}
		dropped += len(d)
	}
	if dropped == 0 {
		t.Fatal("a 100,000-item Zipf stream into K=10 expelled nothing")
	}
	list, err := k.List(ctx)
	if err != nil || len(list) != 10 {
		t.Fatalf("List = %v, %v", list, err)
	}
	for i := 1; i < len(list); i++ {
		if list[i].Count > list[i-1].Count {
			t.Fatalf("List not in count order: %v", list)
		}
	}
	type ic struct {
		item  string
		count int
	}
	var all []ic
	for it, cnt := range truth {
		all = append(all, ic{it, cnt})
	}
	slices.SortFunc(all, func(a, b ic) int { return b.count - a.count })
	top := make([][]byte, 10)
	for i := range top {
		top[i] = []byte(all[i].item)
	}
	in, err := k.Query(ctx, top...)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(in, false); i >= 0 {
		t.Fatalf("true top-10 item %s (count %d) missing from the list %v", top[i], all[i].count, list)
	}
	// IncrBy a newcomer past everyone: it enters and expels the smallest.
	smallest := list[len(list)-1]
	d, err := k.IncrBy(ctx, waymaker.SketchIncrement{Item: []byte("newcomer"), N: list[0].Count + 100})
	if err != nil || len(d) != 1 || string(d[0]) != string(smallest.Item) {
		t.Fatalf("IncrBy newcomer dropped %q, %v; want [%s]", d, err, smallest.Item)
	}
	if list, _ = k.List(ctx); string(list[0].Item) != "newcomer" {
		t.Fatalf("newcomer not first: %v", list[0])
	}
	info, err := k.Info(ctx)
	if err != nil || info.Config.K != 10 || info.Config.Width != 1000 || info.Config.Depth != 5 || info.Config.Decay != 0.9 {
		t.Fatalf("Info = %+v, %v", info, err)
	}
}

func TestSketchTDigest(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 2*time.Minute)
	n := name(t)
	td, err := c.CreateTDigest(ctx, waymaker.TDigestConfig{Name: n})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := td.Min(ctx); err != nil || !math.IsNaN(v) {
		t.Fatalf("Min of empty = %v, %v", v, err)
	}
	rng := rand.New(rand.NewPCG(41, 42))
	vals := make([]float64, 100_000)
	for i := range vals {
		vals[i] = rng.Float64()
	}
	for _, batch := range sketchBatches(vals, 10_000) {
		if err := td.Add(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	qs := []float64{0.5, 0.1, 0.9, 0.01, 0.99}
	got, err := td.Quantile(ctx, qs...)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		tol := 0.01
		if q == 0.01 || q == 0.99 {
			tol = 0.002
		}
		if math.Abs(got[i]-q) >= tol {
			t.Errorf("Q(%v) = %v, want within %v", q, got[i], tol)
		}
	}
	cdf, err := td.CDF(ctx, 0.25, -1, 2)
	if err != nil || math.Abs(cdf[0]-0.25) > 0.01 || cdf[1] != 0 || cdf[2] != 1 {
		t.Fatalf("CDF = %v, %v", cdf, err)
	}
	ranks, err := td.Rank(ctx, -1, 0.5, 2)
	if err != nil || ranks[0] != -1 || math.Abs(float64(ranks[1])-50_000) > 1000 || ranks[2] != 100_000 {
		t.Fatalf("Rank = %v, %v", ranks, err)
	}
	rev, err := td.RevRank(ctx, -1, 0.5, 2)
	if err != nil || rev[0] != 100_000 || math.Abs(float64(rev[1])-50_000) > 1000 || rev[2] != -1 {
		t.Fatalf("RevRank = %v, %v", rev, err)
	}
	byRank, err := td.ByRank(ctx, 0, 50_000, 100_000)
	if err != nil || byRank[0] != slices.Min(vals) || math.Abs(byRank[1]-0.5) > 0.01 || !math.IsInf(byRank[2], 1) {
		t.Fatalf("ByRank = %v, %v", byRank, err)
	}
	byRev, err := td.ByRevRank(ctx, 0, 100_000)
	if err != nil || byRev[0] != slices.Max(vals) || !math.IsInf(byRev[1], -1) {
		t.Fatalf("ByRevRank = %v, %v", byRev, err)
	}
	mean, err := td.TrimmedMean(ctx, 0.1, 0.9)
	if err != nil || math.Abs(mean-0.5) > 0.01 {
		t.Fatalf("TrimmedMean = %v, %v", mean, err)
	}
	lo, _ := td.Min(ctx)
	hi, _ := td.Max(ctx)
	if lo != slices.Min(vals) || hi != slices.Max(vals) {
		t.Fatalf("Min, Max = %v, %v", lo, hi)
	}
	o, err := c.CreateTDigest(ctx, waymaker.TDigestConfig{Name: n + "-o", Compression: 200})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Add(ctx, 5, 6, 7); err != nil {
		t.Fatal(err)
	}
	if err := td.Merge(ctx, o.Name()); err != nil {
		t.Fatal(err)
	}
	info, err := td.Info(ctx)
	if err != nil || info.Observations != 100_003 || info.Max != 7 || info.Config.Compression != 100 {
		t.Fatalf("Info after merge = %+v, %v", info, err)
	}
	if err := td.MergeOverride(ctx, o.Name()); err != nil {
		t.Fatal(err)
	}
	if info, _ = td.Info(ctx); info.Observations != 3 || info.Min != 5 {
		t.Fatalf("Info after override = %+v", info)
	}
	if err := td.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ = td.Info(ctx); info.Observations != 0 || info.Centroids != 0 || !math.IsNaN(info.Max) {
		t.Fatalf("Info after reset = %+v", info)
	}
}

func TestSketchCreateOpenDeleteList(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	n := name(t)
	if _, err := c.CreateBloom(ctx, waymaker.BloomConfig{Name: n + "-b", Capacity: 10, ErrorRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	// Identical config: succeeds; a different one: ErrExists.
	if _, err := c.CreateBloom(ctx, waymaker.BloomConfig{Name: n + "-b", Capacity: 10, ErrorRate: 0.1}); err != nil {
		t.Fatalf("identical re-create: %v", err)
	}
	if _, err := c.CreateBloom(ctx, waymaker.BloomConfig{Name: n + "-b", Capacity: 11, ErrorRate: 0.1}); !errors.Is(err, waymaker.ErrExists) {
		t.Fatalf("different re-create: %v", err)
	}
	if _, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: n + "-b"}); !errors.Is(err, waymaker.ErrExists) {
		t.Fatalf("other kind, same name: %v", err)
	}
	if _, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: n + "-h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTDigest(ctx, waymaker.TDigestConfig{Name: n + "-t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenBloom(ctx, n+"-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenBloom(ctx, n+"-h"); !errors.Is(err, waymaker.ErrConflict) {
		t.Fatalf("OpenBloom on an HLL: %v", err)
	}
	if _, err := c.OpenTDigest(ctx, n+"-missing"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("OpenTDigest missing: %v", err)
	}
	if _, err := c.Sketches().HLL(n+"-b").Add(ctx, []byte("x")); !errors.Is(err, waymaker.ErrConflict) {
		t.Fatalf("HLL add on a Bloom filter: %v", err)
	}
	var mine []string
	all, err := c.ListSketches(ctx, waymaker.SketchKindAny)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range all {
		if strings.HasPrefix(in.Name, n) {
			mine = append(mine, in.Name+":"+in.Kind.String())
		}
	}
	if want := []string{n + "-b:bloom", n + "-h:hll", n + "-t:tdigest"}; !slices.Equal(mine, want) {
		t.Fatalf("List = %v, want %v", mine, want)
	}
	hlls, err := c.ListSketches(ctx, waymaker.SketchKindHLL)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range hlls {
		if in.Kind != waymaker.SketchKindHLL || in.HLL == nil {
			t.Fatalf("HLL listing holds %+v", in)
		}
	}
	if err := c.DeleteHLL(ctx, n+"-b"); !errors.Is(err, waymaker.ErrConflict) {
		t.Fatalf("DeleteHLL on a Bloom filter: %v", err)
	}
	if err := c.DeleteBloom(ctx, n+"-b"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSketch(ctx, n+"-b"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := c.Sketches().Bloom(n+"-b").Exists(ctx, []byte("x")); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("Exists on a deleted filter: %v", err)
	}
}

// sketchAnswers reads back every sketch of fillSketches.
func sketchAnswers(t *testing.T, ctx context.Context, c *waymaker.Client, n string) string {
	t.Helper()
	s := c.Sketches()
	var b strings.Builder
	ex, err1 := s.Bloom(n+"-b").MExists(ctx, sketchItems("x", 0, 50)...)
	card, err2 := s.Bloom(n + "-b").Card(ctx)
	cnt, err3 := s.HLL(n + "-h").Count(ctx)
	q, err4 := s.CMS(n+"-c").Query(ctx, sketchItems("x", 0, 20)...)
	l, err5 := s.TopK(n + "-k").List(ctx)
	qs, err6 := s.TDigest(n+"-t").Quantile(ctx, 0.01, 0.5, 0.99)
	in, err7 := s.TDigest(n + "-t").Info(ctx)
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(&b, ex, card, cnt, q, qs, in.Centroids, in.Observations)
	for _, it := range l {
		fmt.Fprintf(&b, "%s=%d ", it.Item, it.Count)
	}
	return b.String()
}

func fillSketches(t *testing.T, ctx context.Context, c *waymaker.Client, n string, round int) {
	t.Helper()
	if round == 0 {
		_, err1 := c.CreateBloom(ctx, waymaker.BloomConfig{Name: n + "-b", Capacity: 30, ErrorRate: 0.01})
		_, err2 := c.CreateHLL(ctx, waymaker.HLLConfig{Name: n + "-h"})
		_, err3 := c.CreateCMS(ctx, waymaker.CMSConfig{Name: n + "-c", Width: 50, Depth: 4})
		_, err4 := c.CreateTopK(ctx, waymaker.TopKConfig{Name: n + "-k", K: 5})
		_, err5 := c.CreateTDigest(ctx, waymaker.TDigestConfig{Name: n + "-t"})
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			t.Fatal(err)
		}
	}
	s := c.Sketches()
	its := sketchItems("x", round*7, round*7+25)
	var incs []waymaker.SketchIncrement
	var vals []float64
	for i, it := range its {
		incs = append(incs, waymaker.SketchIncrement{Item: it, N: int64(1 + i%3)})
		vals = append(vals, float64(round*100+i*i%37))
	}
	_, err1 := s.Bloom(n+"-b").MAdd(ctx, its...)
	_, err2 := s.HLL(n+"-h").Add(ctx, its...)
	_, err3 := s.CMS(n+"-c").MIncrBy(ctx, incs...)
	_, err4 := s.TopK(n+"-k").Add(ctx, its...)
	_, err5 := s.TopK(n+"-k").IncrBy(ctx, incs...)
	err6 := s.TDigest(n+"-t").Add(ctx, vals...)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		t.Fatal(err)
	}
}

// TestSketchStateSurvivesRestart: with a data dir, every sketch answers the
// same after a restart, both when it is rebuilt by replaying the raft log
// and when it is restored from a raft snapshot.
func TestSketchStateSurvivesRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []waymakertest.Option
	}{
		{"log replay", []waymakertest.Option{waymakertest.WithTempDataDir()}},
		{"snapshot", []waymakertest.Option{waymakertest.WithTempDataDir(), waymakertest.WithConfig(func(c *server.Config) {
			c.SnapshotThreshold = 8
			c.SnapshotInterval = 5 * time.Millisecond
		})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := startEmbedded(t, tc.opts...)
			ctx := testCtx(t, time.Minute)
			n := name(t)
			for round := range 4 {
				fillSketches(t, ctx, c, n, round)
			}
			if tc.name == "snapshot" {
				waitForSketchSnapshot(t, srv.DataDir())
			}
			want := sketchAnswers(t, ctx, c, n)
			srv.Restart()
			if got := sketchAnswers(t, ctx, c, n); got != want {
				t.Fatalf("after restart:\n%s\nbefore:\n%s", got, want)
			}
			// And the restored state keeps evolving exactly like the original
			// (Top-K's decay draws included): a second server fed the same
			// commands from scratch answers the same.
			fillSketches(t, ctx, c, n, 4)
			_, fresh := startEmbedded(t)
			for round := range 5 {
				fillSketches(t, ctx, fresh, n, round)
			}
			if got, want := sketchAnswers(t, ctx, c, n), sketchAnswers(t, ctx, fresh, n); got != want {
				t.Fatalf("restarted server diverged from a fresh one:\n%s\n%s", got, want)
			}
		})
	}
}

// waitForSketchSnapshot waits until raft has written a snapshot under dir.
func waitForSketchSnapshot(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "state.bin"))
		if len(m) > 0 {
			return
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(filepath.Join(dir, "snapshots"))
			t.Fatalf("no raft snapshot under %s after 20s (%v)", dir, entries)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// TestSketchServerValidation calls the generated stub directly, bypassing
// the SDK's checks: the server answers invalid_argument naming the field,
// and nothing changes.
func TestSketchServerValidation(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	n := name(t)
	if _, err := c.CreateTDigest(ctx, waymaker.TDigestConfig{Name: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBloom(ctx, waymaker.BloomConfig{Name: n + "-b", Capacity: 10, ErrorRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	rpc := sketchpb.NewSketchServiceClient(c.Conn())
	check := func(field string, r interface {
		GetResult() *commonpb.Result
	}, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: rpc error %v", field, err)
		}
		res := r.GetResult()
		if res.GetSuccess() || res.GetResultCode() != "invalid_argument" || !strings.HasPrefix(res.GetMessage(), field+": ") {
			t.Errorf("want invalid_argument naming %s, got %v", field, res)
		}
	}
	cfg := func(k *sketchpb.SketchConfig) *sketchpb.SketchServiceCreateSketchRequest {
		return &sketchpb.SketchServiceCreateSketchRequest{Config: k}
	}
	r1, err := rpc.CreateSketch(ctx, cfg(&sketchpb.SketchConfig{Name: "", Kind: &sketchpb.SketchConfig_Hll{Hll: &sketchpb.HLLConfig{}}}))
	check("config.name", r1, err)
	r1, err = rpc.CreateSketch(ctx, cfg(&sketchpb.SketchConfig{Name: n + "-x", Kind: &sketchpb.SketchConfig_Bloom{Bloom: &sketchpb.BloomConfig{Capacity: 10, ErrorRate: 1.5}}}))
	check("config.bloom.error_rate", r1, err)
	r1, err = rpc.CreateSketch(ctx, cfg(&sketchpb.SketchConfig{Name: n + "-x", Kind: &sketchpb.SketchConfig_Bloom{Bloom: &sketchpb.BloomConfig{ErrorRate: 0.1}}}))
	check("config.bloom.capacity", r1, err)
	r1, err = rpc.CreateSketch(ctx, cfg(&sketchpb.SketchConfig{Name: n + "-x", Kind: &sketchpb.SketchConfig_Cms{Cms: &sketchpb.CMSConfig{Width: 10}}}))
	check("config.cms.depth", r1, err)
	r1, err = rpc.CreateSketch(ctx, cfg(&sketchpb.SketchConfig{Name: n + "-x", Kind: &sketchpb.SketchConfig_Topk{Topk: &sketchpb.TopKConfig{}}}))
	check("config.topk.k", r1, err)
	r2, err := rpc.TDigestAdd(ctx, &sketchpb.SketchServiceTDigestAddRequest{Name: n, Values: []float64{1, math.NaN()}})
	check("values[1]", r2, err)
	r2, err = rpc.TDigestAdd(ctx, &sketchpb.SketchServiceTDigestAddRequest{Name: n, Values: []float64{math.Inf(1)}})
	check("values[0]", r2, err)
	r3, err := rpc.TDigestQuantile(ctx, &sketchpb.SketchServiceTDigestQuantileRequest{Name: n, Quantiles: []float64{0.5, 1.2}})
	check("quantiles[1]", r3, err)
	r4, err := rpc.BloomMAdd(ctx, &sketchpb.SketchServiceBloomMAddRequest{Name: n + "-b", Items: [][]byte{[]byte("a"), nil}})
	check("items[1]", r4, err)
	r5, err := rpc.BloomAdd(ctx, &sketchpb.SketchServiceBloomAddRequest{Name: "", Item: []byte("a")})
	check("name", r5, err)
	r6, err := rpc.CMSIncrBy(ctx, &sketchpb.SketchServiceCMSIncrByRequest{Name: n, Increments: []*sketchpb.SketchIncrement{{Item: []byte("a"), Increment: 0}}})
	check("increments[0].increment", r6, err)
	r7, err := rpc.TDigestTrimmedMean(ctx, &sketchpb.SketchServiceTDigestTrimmedMeanRequest{Name: n, LowCutQuantile: 0.9, HighCutQuantile: 0.1})
	check("high_cut_quantile", r7, err)

	// Nothing changed.
	info, err := c.Sketches().TDigest(n).Info(ctx)
	if err != nil || info.Observations != 0 {
		t.Fatalf("t-digest after refused adds: %+v, %v", info, err)
	}
	if card, err := c.Sketches().Bloom(n + "-b").Card(ctx); err != nil || card != 0 {
		t.Fatalf("bloom after refused adds: %d, %v", card, err)
	}
	if all, _ := c.ListSketches(ctx, waymaker.SketchKindAny); slices.ContainsFunc(all, func(in waymaker.SketchInfo) bool { return in.Name == n+"-x" }) {
		t.Fatal("a refused create made a sketch")
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

func init() { register(50, "sketches: Bloom, HyperLogLog, Count-Min, Top-K, t-digest", tourSketches) }

// tourSketches shows what each probabilistic sketch answers: the same
// answers as the RedisBloom commands named in each method's doc.
func tourSketches(ctx context.Context, c *waymaker.Client) error {
	suffix := time.Now().Format("150405")
	name := func(s string) string { return "tour-" + s + "-" + suffix }
	defer func() {
		for _, s := range []string{"seen", "visitors", "visitors-b", "words", "pages", "latency"} {
			_ = c.DeleteSketch(ctx, name(s))
		}
	}()

	seen, err := c.CreateBloom(ctx, waymaker.BloomConfig{Name: name("seen"), Capacity: 1000, ErrorRate: 0.01})
	if err != nil {
		return err
	}
	first, _ := seen.Add(ctx, []byte("order-17"))
	again, err := seen.Add(ctx, []byte("order-17"))
	if err != nil {
		return err
	}
	fmt.Printf("Bloom filter: add order-17 -> newly added %v; add it again -> newly added %v (already there)\n", first, again)
	ex, err := seen.MExists(ctx, []byte("order-17"), []byte("order-18"))
	if err != nil {
		return err
	}
	fmt.Printf("may it hold order-17, order-18? -> %v (a no is certain; a yes is wrong at most 1%% of the time)\n", ex)
	var batch [][]byte
	for i := range 3000 {
		batch = append(batch, fmt.Appendf(nil, "order-%d", 1000+i))
	}
	if _, err := seen.MAdd(ctx, batch...); err != nil {
		return err
	}
	info, err := seen.Info(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("3,001 items in a filter sized for 1,000 -> it grew to %d sub-filters with room for %d; %d items went in as new (the rest tested as present already)\n",
		info.Filters, info.Capacity, info.Items)

	visitors, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: name("visitors")})
	if err != nil {
		return err
	}
	other, err := c.CreateHLL(ctx, waymaker.HLLConfig{Name: name("visitors-b")})
	if err != nil {
		return err
	}
	var users [][]byte
	for i := range 50_000 {
		users = append(users, fmt.Appendf(nil, "user-%d", i))
	}
	changed, err := visitors.Add(ctx, users[:30_000]...)
	if err != nil {
		return err
	}
	if _, err := other.Add(ctx, users[20_000:]...); err != nil {
		return err
	}
	n, _ := visitors.Count(ctx)
	union, err := visitors.Count(ctx, other.Name())
	if err != nil {
		return err
	}
	fmt.Printf("HyperLogLog: add 30,000 users -> changed %v; about %d distinct; with a second HLL (50,000 distinct in all) about %d\n", changed, n, union)

	words, err := c.CreateCMS(ctx, waymaker.CMSConfig{Name: name("words"), ErrorRate: 0.001, Probability: 0.01})
	if err != nil {
		return err
	}
	counts, err := words.MIncrBy(ctx, waymaker.SketchIncrement{Item: []byte("the"), N: 5}, waymaker.SketchIncrement{Item: []byte("sketch"), N: 2},
		waymaker.SketchIncrement{Item: []byte("the"), N: 1})
	if err != nil {
		return err
	}
	fmt.Printf("Count-Min sketch: count the +5, sketch +2, the +1 -> counts now %v\n", counts)
	q, _ := words.Query(ctx, []byte("the"), []byte("absent"))
	fmt.Printf("how often the, absent? -> %v (an estimate never below the true count)\n", q)

	pages, err := c.CreateTopK(ctx, waymaker.TopKConfig{Name: name("pages"), K: 2, Width: 50})
	if err != nil {
		return err
	}
	if _, err := pages.Add(ctx, []byte("/"), []byte("/docs"), []byte("/"), []byte("/blog"), []byte("/"), []byte("/docs")); err != nil {
		return err
	}
	dropped, err := pages.IncrBy(ctx, waymaker.SketchIncrement{Item: []byte("/pricing"), N: 10})
	if err != nil {
		return err
	}
	fmt.Printf("Top-2 pages: /pricing +10 -> pushed %q out of the top 2\n", dropped)
	top, _ := pages.List(ctx)
	for _, p := range top {
		fmt.Printf("  in the top 2: %s, counted %d\n", p.Item, p.Count)
	}

	latency, err := c.CreateTDigest(ctx, waymaker.TDigestConfig{Name: name("latency")})
	if err != nil {
		return err
	}
	var ms []float64
	for i := range 1000 {
		ms = append(ms, float64(10+i%40))
	}
	if err := latency.Add(ctx, ms...); err != nil {
		return err
	}
	qs, err := latency.Quantile(ctx, 0.5, 0.99)
	if err != nil {
		return err
	}
	ranks, err := latency.Rank(ctx, 30)
	if err != nil {
		return err
	}
	mean, err := latency.TrimmedMean(ctx, 0.1, 0.9)
	if err != nil {
		return err
	}
	fmt.Printf("t-digest of 1,000 latencies of 10..49 ms: median %.1f ms, p99 %.1f ms; 30 ms ranks %d of 1,000; mean of the middle 80%% %.1f ms\n",
		qs[0], qs[1], ranks[0], mean)

	if err := latency.Add(ctx, 1, math.NaN()); err != nil {
		var werr *waymaker.Error
		if errors.As(err, &werr) {
			fmt.Printf("adding NaN to the t-digest -> refused: kind=%s %s\n", werr.Kind, werr.Message)
		}
	}
	return nil
}

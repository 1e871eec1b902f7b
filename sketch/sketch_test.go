package sketch_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"git.awesomike.com/pub/waymaker-client/go/sketch"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestInvalidBeforeSending: bad arguments fail with Kind "invalid" naming
// the field, and nothing is sent (the address has no server: a sent call
// would fail with an rpc error instead).
func TestInvalidBeforeSending(t *testing.T) {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := sketch.New(conn)
	b, h, m, k, d := c.Bloom("b"), c.HLL("h"), c.CMS("c"), c.TopK("k"), c.TDigest("t")
	nan := math.NaN()
	cases := []struct {
		field string
		call  func() error
	}{
		{"Name", func() error {
			_, err := c.CreateBloom(ctx, sketch.BloomConfig{Capacity: 1, ErrorRate: 0.1})
			return err
		}},
		{"Name", func() error {
			_, err := c.CreateBloom(ctx, sketch.BloomConfig{Name: "a/b", Capacity: 1, ErrorRate: 0.1})
			return err
		}},
		{"Capacity", func() error { _, err := c.CreateBloom(ctx, sketch.BloomConfig{Name: "x", ErrorRate: 0.1}); return err }},
		{"ErrorRate", func() error { _, err := c.CreateBloom(ctx, sketch.BloomConfig{Name: "x", Capacity: 1}); return err }},
		{"ErrorRate", func() error {
			_, err := c.CreateBloom(ctx, sketch.BloomConfig{Name: "x", Capacity: 1, ErrorRate: 1})
			return err
		}},
		{"Precision", func() error { _, err := c.CreateHLL(ctx, sketch.HLLConfig{Name: "x", Precision: 3}); return err }},
		{"Width", func() error { _, err := c.CreateCMS(ctx, sketch.CMSConfig{Name: "x", Depth: 3}); return err }},
		{"Depth", func() error { _, err := c.CreateCMS(ctx, sketch.CMSConfig{Name: "x", Width: 3}); return err }},
		{"ErrorRate", func() error {
			_, err := c.CreateCMS(ctx, sketch.CMSConfig{Name: "x", ErrorRate: -1, Probability: 0.1})
			return err
		}},
		{"Probability", func() error { _, err := c.CreateCMS(ctx, sketch.CMSConfig{Name: "x", ErrorRate: 0.1}); return err }},
		{"K", func() error { _, err := c.CreateTopK(ctx, sketch.TopKConfig{Name: "x"}); return err }},
		{"Decay", func() error { _, err := c.CreateTopK(ctx, sketch.TopKConfig{Name: "x", K: 1, Decay: 2}); return err }},
		{"Compression", func() error {
			_, err := c.CreateTDigest(ctx, sketch.TDigestConfig{Name: "x", Compression: -1})
			return err
		}},
		{"name", func() error { _, err := c.Bloom("").Add(ctx, []byte("x")); return err }},
		{"item", func() error { _, err := b.Add(ctx, nil); return err }},
		{"items", func() error { _, err := b.MAdd(ctx); return err }},
		{"items[1]", func() error { _, err := b.MExists(ctx, []byte("a"), nil); return err }},
		{"items[0]", func() error { _, err := h.Add(ctx, []byte{}); return err }},
		{"others[0]", func() error { _, err := h.Count(ctx, ""); return err }},
		{"sources", func() error { _, err := h.Merge(ctx); return err }},
		{"item", func() error { _, err := m.IncrBy(ctx, nil, 1); return err }},
		{"n", func() error { _, err := m.IncrBy(ctx, []byte("a"), 0); return err }},
		{"increments[0].N", func() error { _, err := m.MIncrBy(ctx, sketch.Increment{Item: []byte("a"), N: -1}); return err }},
		{"sources[0].Weight", func() error { return m.Merge(ctx, sketch.MergeSource{Name: "c", Weight: -2}) }},
		{"items", func() error { _, err := k.Add(ctx); return err }},
		{"increments[0].Item", func() error { _, err := k.IncrBy(ctx, sketch.Increment{N: 1}); return err }},
		{"values[1]", func() error { return d.Add(ctx, 1, nan) }},
		{"values[0]", func() error { return d.Add(ctx, math.Inf(1)) }},
		{"quantiles[0]", func() error { _, err := d.Quantile(ctx, 1.01); return err }},
		{"quantiles[0]", func() error { _, err := d.Quantile(ctx, nan); return err }},
		{"values[0]", func() error { _, err := d.CDF(ctx, nan); return err }},
		{"ranks[0]", func() error { _, err := d.ByRank(ctx, -1); return err }},
		{"high", func() error { _, err := d.TrimmedMean(ctx, 0.5, 0.2); return err }},
		{"sources[0]", func() error { return d.Merge(ctx, "bad name") }},
	}
	for _, tc := range cases {
		err := tc.call()
		var e *transport.Error
		if !errors.As(err, &e) || e.Kind != transport.KindInvalid || !strings.HasPrefix(e.Message, tc.field+": ") {
			t.Errorf("want invalid naming %s, got %v", tc.field, err)
		}
		if !errors.Is(err, transport.ErrInvalidArgument) {
			t.Errorf("%v does not match ErrInvalidArgument", err)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[sketch.Kind]string{sketch.KindAny: "any", sketch.KindBloom: "bloom", sketch.KindHLL: "hll",
		sketch.KindCMS: "cms", sketch.KindTopK: "topk", sketch.KindTDigest: "tdigest"} {
		if k.String() != want {
			t.Errorf("%d: %s", k, k.String())
		}
	}
}

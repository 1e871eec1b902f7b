package waymaker

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/sketch"
)

// Sketch types, so that waymaker.BloomConfig and friends keep working.
type (
	BloomConfig       = sketch.BloomConfig
	BloomInfo         = sketch.BloomInfo
	Bloom             = sketch.Bloom
	HLLConfig         = sketch.HLLConfig
	HLLInfo           = sketch.HLLInfo
	HLL               = sketch.HLL
	CMSConfig         = sketch.CMSConfig
	CMSInfo           = sketch.CMSInfo
	CMS               = sketch.CMS
	TopKConfig        = sketch.TopKConfig
	TopKInfo          = sketch.TopKInfo
	TopKItem          = sketch.TopKItem
	TopK              = sketch.TopK
	TDigestConfig     = sketch.TDigestConfig
	TDigestInfo       = sketch.TDigestInfo
	TDigest           = sketch.TDigest
	SketchKind        = sketch.Kind
	SketchInfo        = sketch.Info
	SketchIncrement   = sketch.Increment
	SketchMergeSource = sketch.MergeSource
)

// Sketch kinds, for ListSketches.
const (
	SketchKindAny     = sketch.KindAny
	SketchKindBloom   = sketch.KindBloom
	SketchKindHLL     = sketch.KindHLL
	SketchKindCMS     = sketch.KindCMS
	SketchKindTopK    = sketch.KindTopK
	SketchKindTDigest = sketch.KindTDigest
)

// CreateBloom creates a scalable Bloom filter (see sketch.Client.CreateBloom).
func (c *Client) CreateBloom(ctx context.Context, cfg BloomConfig) (*Bloom, error) {
	return c.sketches.CreateBloom(ctx, cfg)
}

// OpenBloom opens an existing Bloom filter.
func (c *Client) OpenBloom(ctx context.Context, name string) (*Bloom, error) {
	return c.sketches.OpenBloom(ctx, name)
}

// DeleteBloom removes a Bloom filter.
func (c *Client) DeleteBloom(ctx context.Context, name string) error {
	return c.sketches.DeleteBloom(ctx, name)
}

// CreateHLL creates a HyperLogLog (see sketch.Client.CreateHLL).
func (c *Client) CreateHLL(ctx context.Context, cfg HLLConfig) (*HLL, error) {
	return c.sketches.CreateHLL(ctx, cfg)
}

// OpenHLL opens an existing HyperLogLog.
func (c *Client) OpenHLL(ctx context.Context, name string) (*HLL, error) {
	return c.sketches.OpenHLL(ctx, name)
}

// DeleteHLL removes a HyperLogLog.
func (c *Client) DeleteHLL(ctx context.Context, name string) error {
	return c.sketches.DeleteHLL(ctx, name)
}

// CreateCMS creates a Count-Min sketch (see sketch.Client.CreateCMS).
func (c *Client) CreateCMS(ctx context.Context, cfg CMSConfig) (*CMS, error) {
	return c.sketches.CreateCMS(ctx, cfg)
}

// OpenCMS opens an existing Count-Min sketch.
func (c *Client) OpenCMS(ctx context.Context, name string) (*CMS, error) {
	return c.sketches.OpenCMS(ctx, name)
}

// DeleteCMS removes a Count-Min sketch.
func (c *Client) DeleteCMS(ctx context.Context, name string) error {
	return c.sketches.DeleteCMS(ctx, name)
}

// CreateTopK creates a Top-K sketch (see sketch.Client.CreateTopK).
func (c *Client) CreateTopK(ctx context.Context, cfg TopKConfig) (*TopK, error) {
	return c.sketches.CreateTopK(ctx, cfg)
}

// OpenTopK opens an existing Top-K sketch.
func (c *Client) OpenTopK(ctx context.Context, name string) (*TopK, error) {
	return c.sketches.OpenTopK(ctx, name)
}

// DeleteTopK removes a Top-K sketch.
func (c *Client) DeleteTopK(ctx context.Context, name string) error {
	return c.sketches.DeleteTopK(ctx, name)
}

// CreateTDigest creates a t-digest (see sketch.Client.CreateTDigest).
func (c *Client) CreateTDigest(ctx context.Context, cfg TDigestConfig) (*TDigest, error) {
	return c.sketches.CreateTDigest(ctx, cfg)
}

// OpenTDigest opens an existing t-digest.
func (c *Client) OpenTDigest(ctx context.Context, name string) (*TDigest, error) {
	return c.sketches.OpenTDigest(ctx, name)
}

// DeleteTDigest removes a t-digest.
func (c *Client) DeleteTDigest(ctx context.Context, name string) error {
	return c.sketches.DeleteTDigest(ctx, name)
}

// DeleteSketch removes a sketch of any kind.
func (c *Client) DeleteSketch(ctx context.Context, name string) error {
	return c.sketches.Delete(ctx, name)
}

// ListSketches lists the sketches of kind (SketchKindAny for all) in name order.
func (c *Client) ListSketches(ctx context.Context, kind SketchKind) ([]SketchInfo, error) {
	return collect(c.sketches.List(ctx, kind))
}

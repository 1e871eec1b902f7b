package sketch

import (
	"context"
	"fmt"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// CMSConfig configures a Count-Min sketch: either Width and Depth
// (CMS.INITBYDIM), or ErrorRate and Probability (CMS.INITBYPROB), not both.
type CMSConfig struct {
	// Name of the sketch: 1 to 256 bytes of [A-Za-z0-9_-].
	Name string
	// Width is the number of counters per row.
	Width uint32
	// Depth is the number of rows.
	Depth uint32
	// ErrorRate ε, in (0, 1): estimates exceed the true count by more than
	// ε times the total count with probability at most Probability. Sets
	// Width to ceil(2/ε).
	ErrorRate float64
	// Probability δ, in (0, 1). Sets Depth to ceil(log2(1/δ)).
	Probability float64
}

// CMSInfo is a Count-Min sketch's configuration and state (CMS.INFO).
type CMSInfo struct {
	// Config has Width and Depth filled in.
	Config CMSConfig
	Width  uint32
	Depth  uint32
	// Count is the sum of all increments.
	Count     int64
	SizeBytes int64
	CreatedAt time.Time
}

// MergeSource names a Count-Min sketch to merge and its weight.
type MergeSource struct {
	Name string
	// Weight multiplies the source's counts; 0 means 1, negative is invalid.
	Weight int64
}

// CMS is a handle on a Count-Min sketch.
type CMS struct {
	c    *Client
	name string
}

// Name is the sketch's name.
func (m *CMS) Name() string { return m.name }

// CMS returns a handle on the Count-Min sketch name without checking that it exists.
func (c *Client) CMS(name string) *CMS { return &CMS{c: c, name: name} }

// CreateCMS creates a Count-Min sketch; see CreateBloom for an existing name.
func (c *Client) CreateCMS(ctx context.Context, cfg CMSConfig) (*CMS, error) {
	if err := checkName("Name", cfg.Name); err != nil {
		return nil, err
	}
	byProb := cfg.ErrorRate != 0 || cfg.Probability != 0
	switch {
	case byProb && (cfg.Width != 0 || cfg.Depth != 0):
		return nil, transport.Invalid("ErrorRate", "set either Width and Depth or ErrorRate and Probability, not both")
	case byProb && !inOpenUnit(cfg.ErrorRate):
		return nil, transport.Invalid("ErrorRate", "must be in (0, 1), got %v", cfg.ErrorRate)
	case byProb && !inOpenUnit(cfg.Probability):
		return nil, transport.Invalid("Probability", "must be in (0, 1), got %v", cfg.Probability)
	case !byProb && cfg.Width == 0:
		return nil, transport.Invalid("Width", "must be positive (or set ErrorRate and Probability)")
	case !byProb && cfg.Depth == 0:
		return nil, transport.Invalid("Depth", "must be positive")
	}
	_, err := c.create(ctx, &sketchpb.SketchConfig{Name: cfg.Name, Kind: &sketchpb.SketchConfig_Cms{Cms: &sketchpb.CMSConfig{
		Width: cfg.Width, Depth: cfg.Depth, ErrorRate: cfg.ErrorRate, Probability: cfg.Probability}}})
	if err != nil {
		return nil, err
	}
	return c.CMS(cfg.Name), nil
}

// OpenCMS returns the existing Count-Min sketch name (ErrNotFound, ErrConflict).
func (c *Client) OpenCMS(ctx context.Context, name string) (*CMS, error) {
	if _, err := c.get(ctx, name, KindCMS); err != nil {
		return nil, err
	}
	return c.CMS(name), nil
}

// DeleteCMS removes the Count-Min sketch name.
func (c *Client) DeleteCMS(ctx context.Context, name string) error {
	return c.delete(ctx, name, KindCMS)
}

// Delete removes the sketch.
func (m *CMS) Delete(ctx context.Context) error { return m.c.delete(ctx, m.name, KindCMS) }

// IncrBy adds n (positive) to item and answers its estimated count
// afterwards (CMS.INCRBY). It carries a request id, so a retry after an
// unknown outcome counts once.
func (m *CMS) IncrBy(ctx context.Context, item []byte, n int64) (int64, error) {
	if len(item) == 0 {
		return 0, transport.Invalid("item", "must not be empty")
	}
	if n <= 0 {
		return 0, transport.Invalid("n", "must be positive, got %d", n)
	}
	counts, err := m.MIncrBy(ctx, Increment{Item: item, N: n})
	if err != nil {
		return 0, err
	}
	return counts[0], nil
}

// MIncrBy applies several increments at once and answers, per increment in
// order, the item's estimated count afterwards.
func (m *CMS) MIncrBy(ctx context.Context, incs ...Increment) ([]int64, error) {
	if err := checkName("name", m.name); err != nil {
		return nil, err
	}
	pbs, err := toIncrements(incs)
	if err != nil {
		return nil, err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	resp, err := transport.Call(ctx, m.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceCMSIncrByResponse, error) {
		return m.c.rpc.CMSIncrBy(ctx, &sketchpb.SketchServiceCMSIncrByRequest{RequestId: rid, Name: m.name, Increments: pbs})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetCounts(), nil
}

// Query answers the estimated count of each item, in order (CMS.QUERY);
// an estimate is never below the true count.
func (m *CMS) Query(ctx context.Context, items ...[]byte) ([]int64, error) {
	if err := checkName("name", m.name); err != nil {
		return nil, err
	}
	if err := checkItems("items", items); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, m.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceCMSQueryResponse, error) {
		return m.c.rpc.CMSQuery(ctx, &sketchpb.SketchServiceCMSQueryRequest{Name: m.name, Items: items})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetCounts(), nil
}

// Merge replaces this sketch's counters with the weighted sum of sources
// (CMS.MERGE), which must all have its width and depth (ErrConflict
// otherwise). Include this sketch among the sources to keep its counts.
func (m *CMS) Merge(ctx context.Context, sources ...MergeSource) error {
	if err := checkName("name", m.name); err != nil {
		return err
	}
	if len(sources) == 0 {
		return transport.Invalid("sources", "must not be empty")
	}
	names := make([]string, len(sources))
	weights := make([]int64, len(sources))
	weighted := false
	for i, s := range sources {
		if err := checkName(fmt.Sprintf("sources[%d].Name", i), s.Name); err != nil {
			return err
		}
		if s.Weight < 0 {
			return transport.Invalid(fmt.Sprintf("sources[%d].Weight", i), "must not be negative, got %d", s.Weight)
		}
		names[i], weights[i] = s.Name, max(s.Weight, 1)
		weighted = weighted || s.Weight > 1
	}
	if !weighted {
		weights = nil
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	_, err := transport.Call(ctx, m.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceCMSMergeResponse, error) {
		return m.c.rpc.CMSMerge(ctx, &sketchpb.SketchServiceCMSMergeRequest{RequestId: rid, Name: m.name, Sources: names, Weights: weights})
	})
	return err
}

// Info answers the sketch's dimensions and total count (CMS.INFO).
func (m *CMS) Info(ctx context.Context) (CMSInfo, error) {
	in, err := m.c.get(ctx, m.name, KindCMS)
	if err != nil {
		return CMSInfo{}, err
	}
	return cmsInfo(in), nil
}

func cmsInfo(in *sketchpb.SketchInfo) CMSInfo {
	c, s := in.GetConfig().GetCms(), in.GetCms()
	return CMSInfo{
		Config: CMSConfig{Name: in.GetConfig().GetName(), Width: c.GetWidth(), Depth: c.GetDepth(),
			ErrorRate: c.GetErrorRate(), Probability: c.GetProbability()},
		Width:     s.GetWidth(),
		Depth:     s.GetDepth(),
		Count:     s.GetCount(),
		SizeBytes: in.GetSizeBytes(),
		CreatedAt: time.UnixMilli(in.GetCreatedAtMs()),
	}
}

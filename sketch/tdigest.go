package sketch

import (
	"context"
	"fmt"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// TDigestConfig configures a t-digest (TDIGEST.CREATE).
type TDigestConfig struct {
	// Name of the sketch: 1 to 256 bytes of [A-Za-z0-9_-].
	Name string
	// Compression trades accuracy for size, 1 to 10000; 0 means 100.
	Compression float64
}

// TDigestInfo is a t-digest's configuration and state (TDIGEST.INFO).
type TDigestInfo struct {
	// Config has the defaults filled in.
	Config TDigestConfig
	// Centroids held.
	Centroids int64
	// Observations added (total weight).
	Observations float64
	// Min and Max are the extreme observations; NaN when empty.
	Min, Max  float64
	SizeBytes int64
	CreatedAt time.Time
}

// TDigest is a handle on a t-digest.
type TDigest struct {
	c    *Client
	name string
}

// Name is the t-digest's name.
func (t *TDigest) Name() string { return t.name }

// TDigest returns a handle on the t-digest name without checking that it exists.
func (c *Client) TDigest(name string) *TDigest { return &TDigest{c: c, name: name} }

// CreateTDigest creates a t-digest; see CreateBloom for an existing name.
func (c *Client) CreateTDigest(ctx context.Context, cfg TDigestConfig) (*TDigest, error) {
	if err := checkName("Name", cfg.Name); err != nil {
		return nil, err
	}
	if cfg.Compression != 0 && !(cfg.Compression >= 1 && cfg.Compression <= 10000) {
		return nil, transport.Invalid("Compression", "must be between 1 and 10000, got %v", cfg.Compression)
	}
	_, err := c.create(ctx, &sketchpb.SketchConfig{Name: cfg.Name, Kind: &sketchpb.SketchConfig_Tdigest{Tdigest: &sketchpb.TDigestConfig{Compression: cfg.Compression}}})
	if err != nil {
		return nil, err
	}
	return c.TDigest(cfg.Name), nil
}

// OpenTDigest returns the existing t-digest name (ErrNotFound, ErrConflict).
func (c *Client) OpenTDigest(ctx context.Context, name string) (*TDigest, error) {
	if _, err := c.get(ctx, name, KindTDigest); err != nil {
		return nil, err
	}
	return c.TDigest(name), nil
}

// DeleteTDigest removes the t-digest name.
func (c *Client) DeleteTDigest(ctx context.Context, name string) error {
	return c.delete(ctx, name, KindTDigest)
}

// Delete removes the t-digest.
func (t *TDigest) Delete(ctx context.Context) error { return t.c.delete(ctx, t.name, KindTDigest) }

// Add adds observations (TDIGEST.ADD); NaN and infinities are invalid. It
// carries a request id, so a retry after an unknown outcome adds them once.
func (t *TDigest) Add(ctx context.Context, values ...float64) error {
	if err := checkName("name", t.name); err != nil {
		return err
	}
	if err := checkFloats("values", values, false); err != nil {
		return err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	_, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestAddResponse, error) {
		return t.c.rpc.TDigestAdd(ctx, &sketchpb.SketchServiceTDigestAddRequest{RequestId: rid, Name: t.name, Values: values})
	})
	return err
}

// Quantile estimates the value at each quantile in [0, 1], in order
// (TDIGEST.QUANTILE); NaN when the digest is empty.
func (t *TDigest) Quantile(ctx context.Context, quantiles ...float64) ([]float64, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	if len(quantiles) == 0 {
		return nil, transport.Invalid("quantiles", "must not be empty")
	}
	for i, q := range quantiles {
		if !(q >= 0 && q <= 1) {
			return nil, transport.Invalid(fmt.Sprintf("quantiles[%d]", i), "must be in [0, 1], got %v", q)
		}
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestQuantileResponse, error) {
		return t.c.rpc.TDigestQuantile(ctx, &sketchpb.SketchServiceTDigestQuantileRequest{Name: t.name, Quantiles: quantiles})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetValues(), nil
}

// CDF estimates, per value, the fraction of observations below it plus half
// of those equal to it (TDIGEST.CDF); NaN when empty.
func (t *TDigest) CDF(ctx context.Context, values ...float64) ([]float64, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	if err := checkFloats("values", values, true); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestCDFResponse, error) {
		return t.c.rpc.TDigestCDF(ctx, &sketchpb.SketchServiceTDigestCDFRequest{Name: t.name, Values: values})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetFractions(), nil
}

// Rank estimates, per value, how many observations are below it plus half
// of those equal (TDIGEST.RANK): -1 below the minimum, the observation
// count above the maximum, -2 when empty.
func (t *TDigest) Rank(ctx context.Context, values ...float64) ([]int64, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	if err := checkFloats("values", values, true); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestRankResponse, error) {
		return t.c.rpc.TDigestRank(ctx, &sketchpb.SketchServiceTDigestRankRequest{Name: t.name, Values: values})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetRanks(), nil
}

// RevRank estimates, per value, how many observations are above it plus
// half of those equal (TDIGEST.REVRANK): -1 above the maximum, the
// observation count below the minimum, -2 when empty.
func (t *TDigest) RevRank(ctx context.Context, values ...float64) ([]int64, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	if err := checkFloats("values", values, true); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestRevRankResponse, error) {
		return t.c.rpc.TDigestRevRank(ctx, &sketchpb.SketchServiceTDigestRevRankRequest{Name: t.name, Values: values})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetRanks(), nil
}

func checkRanks(ranks []int64) error {
	if len(ranks) == 0 {
		return transport.Invalid("ranks", "must not be empty")
	}
	for i, r := range ranks {
		if r < 0 {
			return transport.Invalid(fmt.Sprintf("ranks[%d]", i), "must not be negative, got %d", r)
		}
	}
	return nil
}

// ByRank estimates the value with each rank, 0 being the smallest
// (TDIGEST.BYRANK): +Inf past the last observation, NaN when empty.
func (t *TDigest) ByRank(ctx context.Context, ranks ...int64) ([]float64, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	if err := checkRanks(ranks); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestByRankResponse, error) {
		return t.c.rpc.TDigestByRank(ctx, &sketchpb.SketchServiceTDigestByRankRequest{Name: t.name, Ranks: ranks})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetValues(), nil
}

// ByRevRank estimates the value with each reverse rank, 0 being the
// largest (TDIGEST.BYREVRANK): -Inf past the first observation.
func (t *TDigest) ByRevRank(ctx context.Context, ranks ...int64) ([]float64, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	if err := checkRanks(ranks); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestByRevRankResponse, error) {
		return t.c.rpc.TDigestByRevRank(ctx, &sketchpb.SketchServiceTDigestByRevRankRequest{Name: t.name, Ranks: ranks})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetValues(), nil
}

// TrimmedMean estimates the mean of the observations between quantiles low
// and high, 0 <= low < high <= 1 (TDIGEST.TRIMMED_MEAN).
func (t *TDigest) TrimmedMean(ctx context.Context, low, high float64) (float64, error) {
	if err := checkName("name", t.name); err != nil {
		return 0, err
	}
	if !(low >= 0 && low <= 1) {
		return 0, transport.Invalid("low", "must be in [0, 1], got %v", low)
	}
	if !(high >= 0 && high <= 1) {
		return 0, transport.Invalid("high", "must be in [0, 1], got %v", high)
	}
	if high <= low {
		return 0, transport.Invalid("high", "must be above low (%v), got %v", low, high)
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestTrimmedMeanResponse, error) {
		return t.c.rpc.TDigestTrimmedMean(ctx, &sketchpb.SketchServiceTDigestTrimmedMeanRequest{Name: t.name, LowCutQuantile: low, HighCutQuantile: high})
	})
	if err != nil {
		return 0, err
	}
	return resp.GetMean(), nil
}

// Min answers the smallest observation (TDIGEST.MIN); NaN when empty.
func (t *TDigest) Min(ctx context.Context) (float64, error) {
	if err := checkName("name", t.name); err != nil {
		return 0, err
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestMinResponse, error) {
		return t.c.rpc.TDigestMin(ctx, &sketchpb.SketchServiceTDigestMinRequest{Name: t.name})
	})
	if err != nil {
		return 0, err
	}
	return resp.GetValue(), nil
}

// Max answers the largest observation (TDIGEST.MAX); NaN when empty.
func (t *TDigest) Max(ctx context.Context) (float64, error) {
	if err := checkName("name", t.name); err != nil {
		return 0, err
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestMaxResponse, error) {
		return t.c.rpc.TDigestMax(ctx, &sketchpb.SketchServiceTDigestMaxRequest{Name: t.name})
	})
	if err != nil {
		return 0, err
	}
	return resp.GetValue(), nil
}

// Merge adds the observations of the t-digests sources to this one
// (TDIGEST.MERGE), keeping its compression.
func (t *TDigest) Merge(ctx context.Context, sources ...string) error {
	return t.merge(ctx, sources, false)
}

// MergeOverride replaces this t-digest's observations with the merge of
// sources (TDIGEST.MERGE ... OVERRIDE).
func (t *TDigest) MergeOverride(ctx context.Context, sources ...string) error {
	return t.merge(ctx, sources, true)
}

func (t *TDigest) merge(ctx context.Context, sources []string, override bool) error {
	if err := checkName("name", t.name); err != nil {
		return err
	}
	if err := checkNames("sources", sources); err != nil {
		return err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	_, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestMergeResponse, error) {
		return t.c.rpc.TDigestMerge(ctx, &sketchpb.SketchServiceTDigestMergeRequest{RequestId: rid, Name: t.name, Sources: sources, Override: override})
	})
	return err
}

// Reset empties the t-digest, keeping its configuration (TDIGEST.RESET).
func (t *TDigest) Reset(ctx context.Context) error {
	if err := checkName("name", t.name); err != nil {
		return err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	_, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTDigestResetResponse, error) {
		return t.c.rpc.TDigestReset(ctx, &sketchpb.SketchServiceTDigestResetRequest{RequestId: rid, Name: t.name})
	})
	return err
}

// Info answers the t-digest's configuration and state (TDIGEST.INFO).
func (t *TDigest) Info(ctx context.Context) (TDigestInfo, error) {
	in, err := t.c.get(ctx, t.name, KindTDigest)
	if err != nil {
		return TDigestInfo{}, err
	}
	return tdigestInfo(in), nil
}

func tdigestInfo(in *sketchpb.SketchInfo) TDigestInfo {
	s := in.GetTdigest()
	return TDigestInfo{
		Config:       TDigestConfig{Name: in.GetConfig().GetName(), Compression: s.GetCompression()},
		Centroids:    s.GetCentroids(),
		Observations: s.GetObservations(),
		Min:          s.GetMin(),
		Max:          s.GetMax(),
		SizeBytes:    in.GetSizeBytes(),
		CreatedAt:    time.UnixMilli(in.GetCreatedAtMs()),
	}
}

package sketch

import (
	"context"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// HLLConfig configures a HyperLogLog.
type HLLConfig struct {
	// Name of the sketch: 1 to 256 bytes of [A-Za-z0-9_-].
	Name string
	// Precision is log2 of the register count, 4 to 18; 0 means 14
	// (16,384 registers, a standard error of about 0.8%).
	Precision uint8
}

// HLLInfo is a HyperLogLog's configuration and state.
type HLLInfo struct {
	// Config has the defaults filled in.
	Config HLLConfig
	// Count is the current cardinality estimate.
	Count     uint64
	SizeBytes int64
	CreatedAt time.Time
}

// HLL is a handle on a HyperLogLog.
type HLL struct {
	c    *Client
	name string
}

// Name is the HyperLogLog's name.
func (h *HLL) Name() string { return h.name }

// HLL returns a handle on the HyperLogLog name without checking that it exists.
func (c *Client) HLL(name string) *HLL { return &HLL{c: c, name: name} }

// CreateHLL creates a HyperLogLog; see CreateBloom for an existing name.
func (c *Client) CreateHLL(ctx context.Context, cfg HLLConfig) (*HLL, error) {
	if err := checkName("Name", cfg.Name); err != nil {
		return nil, err
	}
	if cfg.Precision != 0 && (cfg.Precision < 4 || cfg.Precision > 18) {
		return nil, transport.Invalid("Precision", "must be between 4 and 18, got %d", cfg.Precision)
	}
	_, err := c.create(ctx, &sketchpb.SketchConfig{Name: cfg.Name, Kind: &sketchpb.SketchConfig_Hll{Hll: &sketchpb.HLLConfig{Precision: uint32(cfg.Precision)}}})
	if err != nil {
		return nil, err
	}
	return c.HLL(cfg.Name), nil
}

// OpenHLL returns the existing HyperLogLog name (ErrNotFound, ErrConflict).
func (c *Client) OpenHLL(ctx context.Context, name string) (*HLL, error) {
	if _, err := c.get(ctx, name, KindHLL); err != nil {
		return nil, err
	}
	return c.HLL(name), nil
}

// DeleteHLL removes the HyperLogLog name.
func (c *Client) DeleteHLL(ctx context.Context, name string) error {
	return c.delete(ctx, name, KindHLL)
}

// Delete removes the HyperLogLog.
func (h *HLL) Delete(ctx context.Context) error { return h.c.delete(ctx, h.name, KindHLL) }

// Add adds items and reports whether any register changed (PFADD): true
// means the estimate may have moved.
func (h *HLL) Add(ctx context.Context, items ...[]byte) (bool, error) {
	if err := checkName("name", h.name); err != nil {
		return false, err
	}
	if err := checkItems("items", items); err != nil {
		return false, err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	resp, err := transport.Call(ctx, h.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceHLLAddResponse, error) {
		return h.c.rpc.HLLAdd(ctx, &sketchpb.SketchServiceHLLAddRequest{RequestId: rid, Name: h.name, Items: items})
	})
	if err != nil {
		return false, err
	}
	return resp.GetChanged(), nil
}

// Count estimates the distinct items added (PFCOUNT); with others, the
// distinct items of the union, without storing it.
func (h *HLL) Count(ctx context.Context, others ...string) (uint64, error) {
	if err := checkName("name", h.name); err != nil {
		return 0, err
	}
	if len(others) > 0 {
		if err := checkNames("others", others); err != nil {
			return 0, err
		}
	}
	resp, err := transport.Call(ctx, h.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceHLLCountResponse, error) {
		return h.c.rpc.HLLCount(ctx, &sketchpb.SketchServiceHLLCountRequest{Name: h.name, Others: others})
	})
	if err != nil {
		return 0, err
	}
	return resp.GetCount(), nil
}

// Merge folds the HyperLogLogs sources (same precision) into this one
// (PFMERGE) and answers its estimate afterwards.
func (h *HLL) Merge(ctx context.Context, sources ...string) (uint64, error) {
	if err := checkName("name", h.name); err != nil {
		return 0, err
	}
	if err := checkNames("sources", sources); err != nil {
		return 0, err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	resp, err := transport.Call(ctx, h.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceHLLMergeResponse, error) {
		return h.c.rpc.HLLMerge(ctx, &sketchpb.SketchServiceHLLMergeRequest{RequestId: rid, Name: h.name, Sources: sources})
	})
	if err != nil {
		return 0, err
	}
	return resp.GetCount(), nil
}

// Info answers the HyperLogLog's configuration and estimate.
func (h *HLL) Info(ctx context.Context) (HLLInfo, error) {
	in, err := h.c.get(ctx, h.name, KindHLL)
	if err != nil {
		return HLLInfo{}, err
	}
	return hllInfo(in), nil
}

func hllInfo(in *sketchpb.SketchInfo) HLLInfo {
	return HLLInfo{
		Config:    HLLConfig{Name: in.GetConfig().GetName(), Precision: uint8(in.GetConfig().GetHll().GetPrecision())},
		Count:     in.GetHll().GetCount(),
		SizeBytes: in.GetSizeBytes(),
		CreatedAt: time.UnixMilli(in.GetCreatedAtMs()),
	}
}

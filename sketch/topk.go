package sketch

import (
	"context"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// TopKConfig configures a Top-K sketch (HeavyKeeper, TOPK.RESERVE).
type TopKConfig struct {
	// Name of the sketch: 1 to 256 bytes of [A-Za-z0-9_-].
	Name string
	// K is how many items are kept; must be positive.
	K uint32
	// Width is the number of buckets per row; 0 means 8. Larger is more
	// accurate; about K·log(K) is a good start.
	Width uint32
	// Depth is the number of rows; 0 means 7.
	Depth uint32
	// Decay is the probability base with which a colliding bucket's count
	// decays, in (0, 1]; 0 means 0.9.
	Decay float64
}

// TopKInfo is a Top-K sketch's configuration (TOPK.INFO).
type TopKInfo struct {
	// Config has the defaults filled in.
	Config    TopKConfig
	SizeBytes int64
	CreatedAt time.Time
}

// TopKItem is an item of the top K with its estimated count.
type TopKItem struct {
	Item  []byte
	Count int64
}

// TopK is a handle on a Top-K sketch.
type TopK struct {
	c    *Client
	name string
}

// Name is the sketch's name.
func (t *TopK) Name() string { return t.name }

// TopK returns a handle on the Top-K sketch name without checking that it exists.
func (c *Client) TopK(name string) *TopK { return &TopK{c: c, name: name} }

// CreateTopK creates a Top-K sketch; see CreateBloom for an existing name.
func (c *Client) CreateTopK(ctx context.Context, cfg TopKConfig) (*TopK, error) {
	if err := checkName("Name", cfg.Name); err != nil {
		return nil, err
	}
	if cfg.K == 0 {
		return nil, transport.Invalid("K", "must be positive")
	}
	if cfg.Decay != 0 && !(cfg.Decay > 0 && cfg.Decay <= 1) {
		return nil, transport.Invalid("Decay", "must be in (0, 1], got %v", cfg.Decay)
	}
	_, err := c.create(ctx, &sketchpb.SketchConfig{Name: cfg.Name, Kind: &sketchpb.SketchConfig_Topk{Topk: &sketchpb.TopKConfig{
		K: cfg.K, Width: cfg.Width, Depth: cfg.Depth, Decay: cfg.Decay}}})
	if err != nil {
		return nil, err
	}
	return c.TopK(cfg.Name), nil
}

// OpenTopK returns the existing Top-K sketch name (ErrNotFound, ErrConflict).
func (c *Client) OpenTopK(ctx context.Context, name string) (*TopK, error) {
	if _, err := c.get(ctx, name, KindTopK); err != nil {
		return nil, err
	}
	return c.TopK(name), nil
}

// DeleteTopK removes the Top-K sketch name.
func (c *Client) DeleteTopK(ctx context.Context, name string) error {
	return c.delete(ctx, name, KindTopK)
}

// Delete removes the sketch.
func (t *TopK) Delete(ctx context.Context) error { return t.c.delete(ctx, t.name, KindTopK) }

// Add counts each item once and answers the items it expelled from the top
// K, in the order that happened (TOPK.ADD). It carries a request id, so a
// retry after an unknown outcome counts once.
func (t *TopK) Add(ctx context.Context, items ...[]byte) ([][]byte, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	if err := checkItems("items", items); err != nil {
		return nil, err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTopKAddResponse, error) {
		return t.c.rpc.TopKAdd(ctx, &sketchpb.SketchServiceTopKAddRequest{RequestId: rid, Name: t.name, Items: items})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetDropped(), nil
}

// IncrBy adds counts and answers the items expelled from the top K
// (TOPK.INCRBY).
func (t *TopK) IncrBy(ctx context.Context, incs ...Increment) ([][]byte, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	pbs, err := toIncrements(incs)
	if err != nil {
		return nil, err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTopKIncrByResponse, error) {
		return t.c.rpc.TopKIncrBy(ctx, &sketchpb.SketchServiceTopKIncrByRequest{RequestId: rid, Name: t.name, Increments: pbs})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetDropped(), nil
}

// Query reports, per item in order, whether it is in the top K (TOPK.QUERY).
func (t *TopK) Query(ctx context.Context, items ...[]byte) ([]bool, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	if err := checkItems("items", items); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTopKQueryResponse, error) {
		return t.c.rpc.TopKQuery(ctx, &sketchpb.SketchServiceTopKQueryRequest{Name: t.name, Items: items})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetInTop(), nil
}

// List answers the top K with their estimated counts, highest first, ties
// in byte order of the item (TOPK.LIST WITHCOUNT).
func (t *TopK) List(ctx context.Context) ([]TopKItem, error) {
	if err := checkName("name", t.name); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, t.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceTopKListResponse, error) {
		return t.c.rpc.TopKList(ctx, &sketchpb.SketchServiceTopKListRequest{Name: t.name})
	})
	if err != nil {
		return nil, err
	}
	out := make([]TopKItem, len(resp.GetItems()))
	for i, it := range resp.GetItems() {
		out[i] = TopKItem{Item: it.GetItem(), Count: it.GetCount()}
	}
	return out, nil
}

// Info answers the sketch's configuration (TOPK.INFO).
func (t *TopK) Info(ctx context.Context) (TopKInfo, error) {
	in, err := t.c.get(ctx, t.name, KindTopK)
	if err != nil {
		return TopKInfo{}, err
	}
	return topKInfo(in), nil
}

func topKInfo(in *sketchpb.SketchInfo) TopKInfo {
	s := in.GetTopk()
	return TopKInfo{
		Config:    TopKConfig{Name: in.GetConfig().GetName(), K: s.GetK(), Width: s.GetWidth(), Depth: s.GetDepth(), Decay: s.GetDecay()},
		SizeBytes: in.GetSizeBytes(),
		CreatedAt: time.UnixMilli(in.GetCreatedAtMs()),
	}
}

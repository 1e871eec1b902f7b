package sketch

import (
	"context"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// BloomConfig configures a Bloom filter (BF.RESERVE).
type BloomConfig struct {
	// Name of the sketch: 1 to 256 bytes of [A-Za-z0-9_-].
	Name string
	// Capacity is how many items the first sub-filter holds at ErrorRate;
	// must be positive.
	Capacity uint64
	// ErrorRate is the wanted false-positive rate, in (0, 1).
	ErrorRate float64
	// Expansion is the capacity factor of each sub-filter added when the
	// filter scales past its capacity; 0 means 2.
	Expansion uint32
	// NonScaling makes adds past Capacity fail with ErrLimitExceeded
	// instead of adding a sub-filter.
	NonScaling bool
}

// BloomInfo is a Bloom filter's configuration and state (BF.INFO).
type BloomInfo struct {
	// Config has the defaults filled in.
	Config BloomConfig
	// Capacity is the total capacity of all sub-filters.
	Capacity uint64
	// Filters is the number of sub-filters.
	Filters int
	// Items is how many items were added (adds that changed the filter).
	Items     uint64
	SizeBytes int64
	CreatedAt time.Time
}

// Bloom is a handle on a scalable Bloom filter. Handles are cheap; the
// network is touched by each operation.
type Bloom struct {
	c    *Client
	name string
}

// Name is the filter's name.
func (b *Bloom) Name() string { return b.name }

// Bloom returns a handle on the Bloom filter name without checking that it
// exists; operations on a missing filter fail with ErrNotFound.
func (c *Client) Bloom(name string) *Bloom { return &Bloom{c: c, name: name} }

// CreateBloom creates a Bloom filter. Creating one that exists with the same
// configuration succeeds; with another, it fails with ErrExists.
func (c *Client) CreateBloom(ctx context.Context, cfg BloomConfig) (*Bloom, error) {
	if err := checkName("Name", cfg.Name); err != nil {
		return nil, err
	}
	if cfg.Capacity == 0 {
		return nil, transport.Invalid("Capacity", "must be positive")
	}
	if !inOpenUnit(cfg.ErrorRate) {
		return nil, transport.Invalid("ErrorRate", "must be in (0, 1), got %v", cfg.ErrorRate)
	}
	_, err := c.create(ctx, &sketchpb.SketchConfig{Name: cfg.Name, Kind: &sketchpb.SketchConfig_Bloom{Bloom: &sketchpb.BloomConfig{
		Capacity: cfg.Capacity, ErrorRate: cfg.ErrorRate, Expansion: cfg.Expansion, NonScaling: cfg.NonScaling}}})
	if err != nil {
		return nil, err
	}
	return c.Bloom(cfg.Name), nil
}

// OpenBloom returns the existing Bloom filter name: ErrNotFound when there
// is none, ErrConflict when name is a sketch of another kind.
func (c *Client) OpenBloom(ctx context.Context, name string) (*Bloom, error) {
	if _, err := c.get(ctx, name, KindBloom); err != nil {
		return nil, err
	}
	return c.Bloom(name), nil
}

// DeleteBloom removes the Bloom filter name.
func (c *Client) DeleteBloom(ctx context.Context, name string) error {
	return c.delete(ctx, name, KindBloom)
}

// Delete removes the filter.
func (b *Bloom) Delete(ctx context.Context) error { return b.c.delete(ctx, b.name, KindBloom) }

// Add adds item and reports whether it was new (BF.ADD): false means it may
// have been added before.
func (b *Bloom) Add(ctx context.Context, item []byte) (bool, error) {
	if err := checkName("name", b.name); err != nil {
		return false, err
	}
	if len(item) == 0 {
		return false, transport.Invalid("item", "must not be empty")
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceBloomAddResponse, error) {
		return b.c.rpc.BloomAdd(ctx, &sketchpb.SketchServiceBloomAddRequest{RequestId: rid, Name: b.name, Item: item})
	})
	if err != nil {
		return false, err
	}
	return resp.GetAdded(), nil
}

// MAdd adds items and reports, per item in order, whether it was new
// (BF.MADD). The batch is all or nothing: a non-scaling filter that the
// batch could take past capacity refuses it whole with ErrLimitExceeded.
func (b *Bloom) MAdd(ctx context.Context, items ...[]byte) ([]bool, error) {
	if err := checkName("name", b.name); err != nil {
		return nil, err
	}
	if err := checkItems("items", items); err != nil {
		return nil, err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceBloomMAddResponse, error) {
		return b.c.rpc.BloomMAdd(ctx, &sketchpb.SketchServiceBloomMAddRequest{RequestId: rid, Name: b.name, Items: items})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetAdded(), nil
}

// Exists reports whether item may have been added (BF.EXISTS): false is
// certain, true is probable.
func (b *Bloom) Exists(ctx context.Context, item []byte) (bool, error) {
	if err := checkName("name", b.name); err != nil {
		return false, err
	}
	if len(item) == 0 {
		return false, transport.Invalid("item", "must not be empty")
	}
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceBloomExistsResponse, error) {
		return b.c.rpc.BloomExists(ctx, &sketchpb.SketchServiceBloomExistsRequest{Name: b.name, Item: item})
	})
	if err != nil {
		return false, err
	}
	return resp.GetExists(), nil
}

// MExists is Exists for several items, answered in order (BF.MEXISTS).
func (b *Bloom) MExists(ctx context.Context, items ...[]byte) ([]bool, error) {
	if err := checkName("name", b.name); err != nil {
		return nil, err
	}
	if err := checkItems("items", items); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceBloomMExistsResponse, error) {
		return b.c.rpc.BloomMExists(ctx, &sketchpb.SketchServiceBloomMExistsRequest{Name: b.name, Items: items})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetExists(), nil
}

// Card answers how many items were added (BF.CARD).
func (b *Bloom) Card(ctx context.Context) (uint64, error) {
	if err := checkName("name", b.name); err != nil {
		return 0, err
	}
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceBloomCardResponse, error) {
		return b.c.rpc.BloomCard(ctx, &sketchpb.SketchServiceBloomCardRequest{Name: b.name})
	})
	if err != nil {
		return 0, err
	}
	return resp.GetCardinality(), nil
}

// Info answers the filter's configuration and state (BF.INFO).
func (b *Bloom) Info(ctx context.Context) (BloomInfo, error) {
	in, err := b.c.get(ctx, b.name, KindBloom)
	if err != nil {
		return BloomInfo{}, err
	}
	return bloomInfo(in), nil
}

func bloomInfo(in *sketchpb.SketchInfo) BloomInfo {
	c, s := in.GetConfig().GetBloom(), in.GetBloom()
	return BloomInfo{
		Config: BloomConfig{Name: in.GetConfig().GetName(), Capacity: c.GetCapacity(), ErrorRate: c.GetErrorRate(),
			Expansion: c.GetExpansion(), NonScaling: c.GetNonScaling()},
		Capacity:  s.GetCapacity(),
		Filters:   int(s.GetFilters()),
		Items:     s.GetItemsInserted(),
		SizeBytes: in.GetSizeBytes(),
		CreatedAt: time.UnixMilli(in.GetCreatedAtMs()),
	}
}

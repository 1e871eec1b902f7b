package sketch

import (
	"context"
	"fmt"
	"iter"
	"math"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Kind is the kind of a sketch.
type Kind int

// Sketch kinds. KindAny matches every kind in List.
const (
	KindAny Kind = iota
	KindBloom
	KindHLL
	KindCMS
	KindTopK
	KindTDigest
)

func (k Kind) String() string {
	switch k {
	case KindBloom:
		return "bloom"
	case KindHLL:
		return "hll"
	case KindCMS:
		return "cms"
	case KindTopK:
		return "topk"
	case KindTDigest:
		return "tdigest"
	}
	return "any"
}

func (k Kind) pb() sketchpb.SketchKind { return sketchpb.SketchKind(k) }

// Info describes a sketch of any kind, as List answers it. Exactly one of
// the kind-specific fields is set, matching Kind.
type Info struct {
	Name      string
	Kind      Kind
	SizeBytes int64
	CreatedAt time.Time
	Bloom     *BloomInfo
	HLL       *HLLInfo
	CMS       *CMSInfo
	TopK      *TopKInfo
	TDigest   *TDigestInfo
}

// Increment is an item and a positive amount to add to it.
type Increment struct {
	Item []byte
	N    int64
}

// checkName applies the sketch name rule: 1 to 256 bytes of [A-Za-z0-9_-].
func checkName(field, name string) error {
	return transport.CheckName(field, name)
}

func checkNames(field string, names []string) error {
	if len(names) == 0 {
		return transport.Invalid(field, "must not be empty")
	}
	for i, n := range names {
		if err := checkName(fmt.Sprintf("%s[%d]", field, i), n); err != nil {
			return err
		}
	}
	return nil
}

func checkItems(field string, items [][]byte) error {
	if len(items) == 0 {
		return transport.Invalid(field, "must not be empty")
	}
	for i, it := range items {
		if len(it) == 0 {
			return transport.Invalid(fmt.Sprintf("%s[%d]", field, i), "must not be empty")
		}
	}
	return nil
}

func toIncrements(incs []Increment) ([]*sketchpb.SketchIncrement, error) {
	if len(incs) == 0 {
		return nil, transport.Invalid("increments", "must not be empty")
	}
	out := make([]*sketchpb.SketchIncrement, len(incs))
	for i, inc := range incs {
		if len(inc.Item) == 0 {
			return nil, transport.Invalid(fmt.Sprintf("increments[%d].Item", i), "must not be empty")
		}
		if inc.N <= 0 {
			return nil, transport.Invalid(fmt.Sprintf("increments[%d].N", i), "must be positive, got %d", inc.N)
		}
		out[i] = &sketchpb.SketchIncrement{Item: inc.Item, Increment: inc.N}
	}
	return out, nil
}

func inOpenUnit(v float64) bool { return v > 0 && v < 1 }

func checkFloats(field string, vs []float64, allowInf bool) error {
	if len(vs) == 0 {
		return transport.Invalid(field, "must not be empty")
	}
	for i, v := range vs {
		if math.IsNaN(v) || (!allowInf && math.IsInf(v, 0)) {
			return transport.Invalid(fmt.Sprintf("%s[%d]", field, i), "must be a finite number, got %v", v)
		}
	}
	return nil
}

// create sends CreateSketch. An identical configuration on an existing
// sketch succeeds, so the call is safe to retry.
func (c *Client) create(ctx context.Context, cfg *sketchpb.SketchConfig) (*sketchpb.SketchInfo, error) {
	rid := transport.NewRequestID() // one id for every attempt of this call
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceCreateSketchResponse, error) {
		return c.rpc.CreateSketch(ctx, &sketchpb.SketchServiceCreateSketchRequest{RequestId: rid, Config: cfg})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetInfo(), nil
}

// get answers a sketch's info, requiring kind (any when KindAny).
func (c *Client) get(ctx context.Context, name string, kind Kind) (*sketchpb.SketchInfo, error) {
	if err := checkName("name", name); err != nil {
		return nil, err
	}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceGetSketchResponse, error) {
		return c.rpc.GetSketch(ctx, &sketchpb.SketchServiceGetSketchRequest{Name: name, Kind: kind.pb()})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetInfo(), nil
}

// Info answers the configuration and state of the sketch name, of any kind.
func (c *Client) Info(ctx context.Context, name string) (Info, error) {
	in, err := c.get(ctx, name, KindAny)
	if err != nil {
		return Info{}, err
	}
	return infoFromPB(in), nil
}

// Delete removes the sketch name, of any kind; ErrNotFound when it does not exist.
func (c *Client) Delete(ctx context.Context, name string) error {
	return c.delete(ctx, name, KindAny)
}

func (c *Client) delete(ctx context.Context, name string, kind Kind) error {
	if err := checkName("name", name); err != nil {
		return err
	}
	rid := transport.NewRequestID() // one id for every attempt of this call
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceDeleteSketchResponse, error) {
		return c.rpc.DeleteSketch(ctx, &sketchpb.SketchServiceDeleteSketchRequest{RequestId: rid, Name: name, Kind: kind.pb()})
	})
	return err
}

// List ranges over the sketches of kind (KindAny for all) in name order,
// fetching a page at a time; it stops at the first error, which it yields
// once, last (see transport.Pages, the listing shape of every client).
func (c *Client) List(ctx context.Context, kind Kind) iter.Seq2[Info, error] {
	return transport.Pages(ctx, func(ctx context.Context, token string) ([]Info, string, error) {
		req := &sketchpb.SketchServiceListSketchesRequest{Kind: kind.pb(), PageToken: token}
		resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*sketchpb.SketchServiceListSketchesResponse, error) {
			return c.rpc.ListSketches(ctx, req)
		})
		if err != nil {
			return nil, "", err
		}
		return transport.Map(resp.GetSketches(), infoFromPB), resp.GetNextPageToken(), nil
	})
}

func infoFromPB(in *sketchpb.SketchInfo) Info {
	out := Info{
		Name:      in.GetConfig().GetName(),
		Kind:      Kind(in.GetKind()),
		SizeBytes: in.GetSizeBytes(),
		CreatedAt: time.UnixMilli(in.GetCreatedAtMs()),
	}
	switch out.Kind {
	case KindBloom:
		b := bloomInfo(in)
		out.Bloom = &b
	case KindHLL:
		h := hllInfo(in)
		out.HLL = &h
	case KindCMS:
		c := cmsInfo(in)
		out.CMS = &c
	case KindTopK:
		t := topKInfo(in)
		out.TopK = &t
	case KindTDigest:
		t := tdigestInfo(in)
		out.TDigest = &t
	}
	return out
}

package sketch

import (
	"fmt"
	"math"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Defaults and bounds of sketch configurations, as documented in sketch.proto.
const (
	defaultExpansion   = 2
	defaultPrecision   = 14
	minPrecision       = 4
	maxPrecision       = 18
	defaultTopKWidth   = 8
	defaultTopKDepth   = 7
	defaultTopKDecay   = 0.9
	defaultCompression = 100
	maxCompression     = 10000
	defaultPageSize    = 100
	maxPageSize        = 1000
)

// Limits bounds what sketch requests may carry and how big a sketch may grow.
type Limits struct {
	// MaxNameLen bounds a sketch name, in bytes. Default 256.
	MaxNameLen int
	// MaxItemLen bounds one item, in bytes. Default 1024.
	MaxItemLen int
	// MaxSketchBytes bounds the memory of one sketch (a Bloom filter's bits
	// across its sub-filters, a Count-Min or Top-K table). Default 64 MiB.
	MaxSketchBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxNameLen <= 0 {
		l.MaxNameLen = 256
	}
	if l.MaxItemLen <= 0 {
		l.MaxItemLen = 1024
	}
	if l.MaxSketchBytes <= 0 {
		l.MaxSketchBytes = 64 << 20
	}
	return l
}

// checkName enforces the name rule of every resource (result.CheckName):
// 1..MaxNameLen bytes of [A-Za-z0-9_-].
func (l Limits) checkName(field, name string) *commonpb.Result {
	return result.CheckName(field, name, l.MaxNameLen)
}

func (l Limits) checkNames(field string, names []string) *commonpb.Result {
	if len(names) == 0 {
		return result.Invalidf(field, "must not be empty")
	}
	for i, n := range names {
		if r := l.checkName(fmt.Sprintf("%s[%d]", field, i), n); r != nil {
			return r
		}
	}
	return nil
}

func (l Limits) checkItem(field string, item []byte) *commonpb.Result {
	if len(item) == 0 {
		return result.Invalidf(field, "must not be empty")
	}
	if len(item) > l.MaxItemLen {
		return result.Invalidf(field, "is %d bytes, limit %d", len(item), l.MaxItemLen)
	}
	return nil
}

func (l Limits) checkItems(field string, items [][]byte) *commonpb.Result {
	if len(items) == 0 {
		return result.Invalidf(field, "must not be empty")
	}
	for i, it := range items {
		if r := l.checkItem(fmt.Sprintf("%s[%d]", field, i), it); r != nil {
			return r
		}
	}
	return nil
}

func (l Limits) checkIncrements(incs []*sketchpb.SketchIncrement) *commonpb.Result {
	if len(incs) == 0 {
		return result.Invalidf("increments", "must not be empty")
	}
	for i, inc := range incs {
		if r := l.checkItem(fmt.Sprintf("increments[%d].item", i), inc.GetItem()); r != nil {
			return r
		}
		if inc.GetIncrement() <= 0 {
			return result.Invalidf(fmt.Sprintf("increments[%d].increment", i), "must be positive, got %d", inc.GetIncrement())
		}
	}
	return nil
}

func checkFloats(field string, vs []float64, allowInf bool) *commonpb.Result {
	if len(vs) == 0 {
		return result.Invalidf(field, "must not be empty")
	}
	for i, v := range vs {
		if math.IsNaN(v) || (!allowInf && math.IsInf(v, 0)) {
			return result.Invalidf(fmt.Sprintf("%s[%d]", field, i), "must be a finite number, got %v", v)
		}
	}
	return nil
}

func checkQuantile(field string, q float64) *commonpb.Result {
	if !(q >= 0 && q <= 1) {
		return result.Invalidf(field, "must be in [0, 1], got %v", q)
	}
	return nil
}

func inOpenUnit(v float64) bool { return v > 0 && v < 1 }

// normalize validates a create request's config and returns a copy with
// defaults filled in, or the result refusing it.
func (l Limits) normalize(cfg *sketchpb.SketchConfig) (*sketchpb.SketchConfig, *commonpb.Result) {
	if cfg == nil {
		return nil, result.Invalidf("config", "is required")
	}
	if r := l.checkName("config.name", cfg.GetName()); r != nil {
		return nil, r
	}
	out := &sketchpb.SketchConfig{Name: cfg.GetName()}
	switch k := cfg.GetKind().(type) {
	case *sketchpb.SketchConfig_Bloom:
		c := k.Bloom
		if c == nil {
			c = &sketchpb.BloomConfig{}
		}
		if c.GetCapacity() == 0 {
			return nil, result.Invalidf("config.bloom.capacity", "must be positive")
		}
		if c.GetCapacity() > 1<<40 {
			return nil, result.Invalidf("config.bloom.capacity", "must be at most 2^40, got %d", c.GetCapacity())
		}
		if !inOpenUnit(c.GetErrorRate()) {
			return nil, result.Invalidf("config.bloom.error_rate", "must be in (0, 1), got %v", c.GetErrorRate())
		}
		exp := c.GetExpansion()
		if exp == 0 {
			exp = defaultExpansion
		}
		if n := int64(subBits(c.GetCapacity(), c.GetErrorRate())/8 + 1); n > l.MaxSketchBytes {
			return nil, result.Failf(result.CodeLimitExceeded, "config.bloom.capacity: %d items at error rate %v need %d bytes, limit %d",
				c.GetCapacity(), c.GetErrorRate(), n, l.MaxSketchBytes)
		}
		out.Kind = &sketchpb.SketchConfig_Bloom{Bloom: &sketchpb.BloomConfig{
			Capacity: c.GetCapacity(), ErrorRate: c.GetErrorRate(), Expansion: exp, NonScaling: c.GetNonScaling()}}
	case *sketchpb.SketchConfig_Hll:
		p := k.Hll.GetPrecision()
		if p == 0 {
			p = defaultPrecision
		}
		if p < minPrecision || p > maxPrecision {
			return nil, result.Invalidf("config.hll.precision", "must be between %d and %d, got %d", minPrecision, maxPrecision, p)
		}
		out.Kind = &sketchpb.SketchConfig_Hll{Hll: &sketchpb.HLLConfig{Precision: p}}
	case *sketchpb.SketchConfig_Cms:
		c := k.Cms
		w, d := uint64(c.GetWidth()), uint64(c.GetDepth())
		byProb := c.GetErrorRate() != 0 || c.GetProbability() != 0
		switch {
		case byProb && (w != 0 || d != 0):
			return nil, result.Invalidf("config.cms.error_rate", "set either width and depth or error_rate and probability, not both")
		case byProb && !inOpenUnit(c.GetErrorRate()):
			return nil, result.Invalidf("config.cms.error_rate", "must be in (0, 1), got %v", c.GetErrorRate())
		case byProb && !inOpenUnit(c.GetProbability()):
			return nil, result.Invalidf("config.cms.probability", "must be in (0, 1), got %v", c.GetProbability())
		case byProb:
			w, d = cmsDimensions(c.GetErrorRate(), c.GetProbability())
		case w == 0:
			return nil, result.Invalidf("config.cms.width", "must be positive (or set error_rate and probability)")
		case d == 0:
			return nil, result.Invalidf("config.cms.depth", "must be positive")
		}
		if n := w * d * 8; w*d > uint64(l.MaxSketchBytes)/8 {
			return nil, result.Failf(result.CodeLimitExceeded, "config.cms.width: %d×%d counters need %d bytes, limit %d", w, d, n, l.MaxSketchBytes)
		}
		out.Kind = &sketchpb.SketchConfig_Cms{Cms: &sketchpb.CMSConfig{
			Width: uint32(w), Depth: uint32(d), ErrorRate: c.GetErrorRate(), Probability: c.GetProbability()}}
	case *sketchpb.SketchConfig_Topk:
		c := k.Topk
		if c.GetK() == 0 {
			return nil, result.Invalidf("config.topk.k", "must be positive")
		}
		w, d, decay := uint64(c.GetWidth()), uint64(c.GetDepth()), c.GetDecay()
		if w == 0 {
			w = defaultTopKWidth
		}
		if d == 0 {
			d = defaultTopKDepth
		}
		if decay == 0 {
			decay = defaultTopKDecay
		}
		if !(decay > 0 && decay <= 1) {
			return nil, result.Invalidf("config.topk.decay", "must be in (0, 1], got %v", c.GetDecay())
		}
		if n := w*d*12 + uint64(c.GetK())*64; w*d > uint64(l.MaxSketchBytes)/12 || n > uint64(l.MaxSketchBytes) {
			return nil, result.Failf(result.CodeLimitExceeded, "config.topk.width: k=%d with %d×%d buckets needs about %d bytes, limit %d",
				c.GetK(), w, d, n, l.MaxSketchBytes)
		}
		out.Kind = &sketchpb.SketchConfig_Topk{Topk: &sketchpb.TopKConfig{K: c.GetK(), Width: uint32(w), Depth: uint32(d), Decay: decay}}
	case *sketchpb.SketchConfig_Tdigest:
		c := k.Tdigest.GetCompression()
		if c == 0 {
			c = defaultCompression
		}
		if !(c >= 1 && c <= maxCompression) {
			return nil, result.Invalidf("config.tdigest.compression", "must be between 1 and %d, got %v", maxCompression, k.Tdigest.GetCompression())
		}
		out.Kind = &sketchpb.SketchConfig_Tdigest{Tdigest: &sketchpb.TDigestConfig{Compression: c}}
	default:
		return nil, result.Invalidf("config.kind", "one of bloom, hll, cms, topk or tdigest is required")
	}
	return out, nil
}

package sketch

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
)

// Deep copies, for copy-on-write while a snapshot writer reads the
// original: nothing in a clone shares a slice, map or filter with it.

func (e *entry) clone() *entry {
	c := &entry{config: proto.Clone(e.config).(*sketchpb.SketchConfig), kind: e.kind, createdAt: e.createdAt}
	switch {
	case e.bloom != nil:
		c.bloom = e.bloom.clone()
	case e.hll != nil:
		c.hll = e.hll.clone()
	case e.cms != nil:
		c.cms = e.cms.clone()
	case e.topk != nil:
		c.topk = e.topk.clone()
	case e.td != nil:
		c.td = e.td.clone()
	}
	return c
}

func (b *bloomFilter) clone() *bloomFilter {
	c := *b
	c.subs = make([]bloomSub, len(b.subs))
	for i, s := range b.subs {
		c.subs[i] = bloomSub{f: s.f.Copy(), capacity: s.capacity, count: s.count}
	}
	return &c
}

func (h *hyperLogLog) clone() *hyperLogLog {
	c := *h // hist is an array: copied by value
	c.regs = slices.Clone(h.regs)
	return &c
}

func (m *countMin) clone() *countMin {
	c := *m
	c.counters = slices.Clone(m.counters)
	return &c
}

func (t *topK) clone() *topK {
	c := *t
	c.fps = slices.Clone(t.fps)
	c.counts = slices.Clone(t.counts)
	c.heap = make([]topKEntry, len(t.heap), cap(t.heap))
	for i, h := range t.heap {
		c.heap[i] = topKEntry{item: slices.Clone(h.item), count: h.count}
	}
	c.index = maps.Clone(t.index)
	if c.index == nil {
		c.index = map[string]int{}
	}
	c.decayTable = slices.Clone(t.decayTable)
	return &c
}

func (t *tDigest) clone() *tDigest {
	c := *t
	c.means = slices.Clone(t.means)
	c.weights = slices.Clone(t.weights)
	c.scratch = nil
	return &c
}

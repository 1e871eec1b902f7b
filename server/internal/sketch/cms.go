package sketch

import (
	"errors"
	"math"
)

// errOverflow is an increment or merge that would take a count past int64.
var errOverflow = errors.New("count would overflow int64")

// countMin is a Count-Min sketch (Cormode & Muthukrishnan): depth rows of
// width counters; an item adds to one counter per row and its estimate is
// the smallest of them, which is never below its true count. Every counter
// is at most total, so checking total for overflow covers them all.
type countMin struct {
	width, depth uint32
	total        int64
	counters     []int64 // row-major, depth × width
}

func newCMS(width, depth uint32) *countMin {
	return &countMin{width: width, depth: depth, counters: make([]int64, uint64(width)*uint64(depth))}
}

// cmsDimensions turns an error bound and probability into width and depth
// as CMS.INITBYPROB does: width = ceil(2/ε), depth = ceil(log(δ)/log(½)).
// Each row overshoots by more than ε·N with probability at most ½ (Markov:
// the expected overshoot is N/width = ε·N/2), so all depth rows do with
// probability at most δ.
func cmsDimensions(errorRate, probability float64) (width, depth uint64) {
	w := math.Ceil(2 / errorRate)
	d := math.Ceil(math.Log(probability) / math.Log(0.5))
	if w > math.MaxUint32 {
		w = math.MaxUint32
	}
	if d > math.MaxUint32 {
		d = math.MaxUint32
	}
	return uint64(max(w, 1)), uint64(max(d, 1))
}

// canAdd reports whether adding sum more keeps every count within int64.
func (c *countMin) canAdd(sum int64) bool {
	return sum >= 0 && c.total <= math.MaxInt64-sum
}

// incr adds n to item's counters and returns its new estimate (CMS.INCRBY).
func (c *countMin) incr(h uint64, n int64) int64 {
	c.total += n
	est := int64(math.MaxInt64)
	for i := range c.depth {
		k := uint64(i)*uint64(c.width) + uint64(rowIndex(h, i, c.width))
		c.counters[k] += n
		est = min(est, c.counters[k])
	}
	return est
}

func (c *countMin) query(h uint64) int64 {
	est := int64(math.MaxInt64)
	for i := range c.depth {
		est = min(est, c.counters[uint64(i)*uint64(c.width)+uint64(rowIndex(h, i, c.width))])
	}
	return est
}

// weightedSum computes the counters and total of Σ weights[i]·srcs[i], or
// errOverflow. Weights are positive, so every counter stays at most total
// and bounding total bounds them all.
func weightedSum(srcs []*countMin, weights []int64) ([]int64, int64, error) {
	var total int64
	for i, s := range srcs {
		if s.total != 0 && weights[i] > math.MaxInt64/s.total {
			return nil, 0, errOverflow
		}
		p := s.total * weights[i]
		if total > math.MaxInt64-p {
			return nil, 0, errOverflow
		}
		total += p
	}
	out := make([]int64, len(srcs[0].counters))
	for i, s := range srcs {
		w := weights[i]
		for k, v := range s.counters {
			out[k] += v * w
		}
	}
	return out, total, nil
}

func (c *countMin) sizeBytes() int64 { return int64(len(c.counters)) * 8 }

func (c *countMin) encode(e *enc) {
	e.uvarint(uint64(c.width))
	e.uvarint(uint64(c.depth))
	e.varint(c.total)
	for _, v := range c.counters {
		e.varint(v)
	}
}

func decodeCMS(d *dec) *countMin {
	w, dep := d.uvarint(), d.uvarint()
	total := d.varint()
	if d.err != nil || w == 0 || dep == 0 || w > math.MaxUint32 || dep > math.MaxUint32 || w*dep > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	c := newCMS(uint32(w), uint32(dep))
	c.total = total
	for k := range c.counters {
		c.counters[k] = d.varint()
	}
	if d.err != nil {
		return nil
	}
	return c
}

package sketch

import (
	"math"
	"slices"
)

// tDigest is a merging t-digest (Dunning & Ertl, "Computing extremely
// accurate quantiles using t-digests", 2019) with the k1 scale function,
// the variant RedisBloom's TDIGEST commands use.
//
// Every Apply leaves it fully merged (no pending buffer), so its state is
// just compression, min, max and the sorted centroids, and reads never
// change it. Written here rather than taken from caio/go-tdigest: that
// library serialises centroid means as float32 deltas (a restore does not
// reproduce the state) and draws on a random source whose position is not
// part of its encoding, so replicas would drift apart after a snapshot.
type tDigest struct {
	compression float64
	means       []float64
	weights     []float64
	total       float64
	min, max    float64    // meaningful only when total > 0
	scratch     []centroid // reused by add; not state
}

type centroid struct{ mean, weight float64 }

func newTDigest(compression float64) *tDigest { return &tDigest{compression: compression} }

func (t *tDigest) reset() {
	t.means, t.weights, t.total, t.min, t.max = nil, nil, 0, 0, 0
}

// add merges values (all finite: validated) into the digest.
func (t *tDigest) add(values []float64) {
	if len(values) == 0 {
		return
	}
	cs := t.centroids(len(values))
	for _, v := range values {
		cs = append(cs, centroid{v, 1})
	}
	lo, hi := slices.Min(values), slices.Max(values)
	if t.total > 0 {
		lo, hi = min(lo, t.min), max(hi, t.max)
	}
	t.min, t.max = lo, hi
	t.compress(cs)
}

// centroids copies the digest's centroids into a slice with room for extra
// more, reusing the scratch buffer.
func (t *tDigest) centroids(extra int) []centroid {
	n := len(t.means)
	if cap(t.scratch) < n+extra {
		t.scratch = make([]centroid, 0, n+extra+n/2)
	}
	cs := t.scratch[:n]
	for i := range t.means {
		cs[i] = centroid{t.means[i], t.weights[i]}
	}
	return cs
}

// mergeFrom merges the digests srcs into t (t's own centroids included
// unless override), keeping t's compression.
func (t *tDigest) mergeFrom(srcs []*tDigest, override bool) {
	var cs []centroid
	lo, hi := math.Inf(1), math.Inf(-1)
	if !override && t.total > 0 {
		cs = t.centroids(0)
		lo, hi = t.min, t.max
	}
	for _, s := range srcs {
		if s.total == 0 {
			continue
		}
		cs = append(cs, s.centroids(0)...)
		lo, hi = min(lo, s.min), max(hi, s.max)
	}
	t.reset()
	if len(cs) == 0 {
		return
	}
	t.min, t.max = lo, hi
	t.compress(cs)
}

// kOf is the k1 scale function: k(q) = δ/(2π)·asin(2q−1). Centroids may
// span at most one unit of k, which keeps them small near q=0 and q=1.
func (t *tDigest) kOf(q float64) float64 {
	return t.compression / (2 * math.Pi) * math.Asin(2*q-1)
}

// qOf inverts kOf, saturating at 1.
func (t *tDigest) qOf(k float64) float64 {
	if k >= t.compression/4 {
		return 1
	}
	return (math.Sin(k*2*math.Pi/t.compression) + 1) / 2
}

// compress sorts cs by mean and merges neighbours while the merged centroid
// spans at most one unit of k. The sort is stable and products are rounded
// explicitly (no fused multiply-add), so every replica computes the same
// centroids from the same input.
func (t *tDigest) compress(cs []centroid) {
	slices.SortStableFunc(cs, func(a, b centroid) int {
		switch {
		case a.mean < b.mean:
			return -1
		case a.mean > b.mean:
			return 1
		}
		return 0
	})
	var total float64
	for _, c := range cs {
		total += c.weight
	}
	// cs holds copies of every centroid, so the old arrays can be reused.
	means, weights := t.means[:0], t.weights[:0]
	cur := cs[0]
	var soFar float64
	limit := total * t.qOf(t.kOf(0)+1)
	for _, c := range cs[1:] {
		if soFar+cur.weight+c.weight <= limit {
			cur.weight += c.weight
			cur.mean += float64((c.mean-cur.mean)*c.weight) / cur.weight
			continue
		}
		means, weights = append(means, cur.mean), append(weights, cur.weight)
		soFar += cur.weight
		limit = total * t.qOf(t.kOf(soFar/total)+1)
		cur = c
	}
	t.means, t.weights = append(means, cur.mean), append(weights, cur.weight)
	t.total = total
}

func weightedAverage(x1, w1, x2, w2 float64) float64 {
	lo, hi := min(x1, x2), max(x1, x2)
	return max(lo, min(hi, (x1*w1+x2*w2)/(w1+w2)))
}

// quantile estimates the value at q in [0, 1], interpolating between
// centroid centres and treating single-observation centroids as points.
func (t *tDigest) quantile(q float64) float64 {
	n := len(t.means)
	switch {
	case n == 0:
		return math.NaN()
	case q <= 0:
		return t.min
	case q >= 1:
		return t.max
	case n == 1:
		if t.weights[0] == 1 {
			return t.means[0]
		}
		return t.min + q*(t.max-t.min)
	}
	m, w, total := t.means, t.weights, t.total
	index := q * total
	if index < 1 {
		return t.min
	}
	if w[0] > 1 && index < w[0]/2 {
		return t.min + (index-1)/(w[0]/2-1)*(m[0]-t.min)
	}
	if index > total-1 {
		return t.max
	}
	if w[n-1] > 1 && total-index <= w[n-1]/2 {
		return t.max - (total-index-1)/(w[n-1]/2-1)*(t.max-m[n-1])
	}
	soFar := w[0] / 2
	for i := 0; i < n-1; i++ {
		dw := (w[i] + w[i+1]) / 2
		if soFar+dw > index {
			var leftUnit, rightUnit float64
			if w[i] == 1 {
				if index-soFar < 0.5 {
					return m[i]
				}
				leftUnit = 0.5
			}
			if w[i+1] == 1 {
				if soFar+dw-index <= 0.5 {
					return m[i+1]
				}
				rightUnit = 0.5
			}
			z1 := index - soFar - leftUnit
			z2 := soFar + dw - index - rightUnit
			return weightedAverage(m[i], z2, m[i+1], z1)
		}
		soFar += dw
	}
	return t.max
}

// cdf estimates the fraction of observations below x plus half of those
// equal to it (TDIGEST.CDF).
func (t *tDigest) cdf(x float64) float64 {
	n := len(t.means)
	m, w, total := t.means, t.weights, t.total
	switch {
	case n == 0:
		return math.NaN()
	case x < t.min:
		return 0
	case x > t.max:
		return 1
	case n == 1:
		if t.max-t.min == 0 {
			return 0.5
		}
		return (x - t.min) / (t.max - t.min)
	}
	if x < m[0] {
		if m[0]-t.min > 0 {
			if x == t.min {
				return 0.5 / total
			}
			return (1 + (x-t.min)/(m[0]-t.min)*(w[0]/2-1)) / total
		}
		return 0
	}
	if x > m[n-1] {
		if t.max-m[n-1] > 0 {
			if x == t.max {
				return 1 - 0.5/total
			}
			return 1 - (1+(t.max-x)/(t.max-m[n-1])*(w[n-1]/2-1))/total
		}
		return 1
	}
	var soFar float64
	for i := 0; i < n-1; i++ {
		if m[i] == x {
			var dw float64
			for ; i < n && m[i] == x; i++ {
				dw += w[i]
			}
			return (soFar + dw/2) / total
		}
		if m[i] <= x && x < m[i+1] {
			if m[i+1]-m[i] <= 0 {
				return (soFar + (w[i]+w[i+1])/2) / total
			}
			var leftExcl, rightExcl float64
			if w[i] == 1 {
				if w[i+1] == 1 {
					// Two single observations: no interpolation between them.
					return (soFar + 1) / total
				}
				leftExcl = 0.5
			} else if w[i+1] == 1 {
				rightExcl = 0.5
			}
			dw := (w[i]+w[i+1])/2 - leftExcl - rightExcl
			base := soFar + w[i]/2 + leftExcl
			return (base + dw*(x-m[i])/(m[i+1]-m[i])) / total
		}
		soFar += w[i]
	}
	return 1 - 0.5/total // x == m[n-1]
}

// halfRoundDown rounds to the nearest integer, halves toward zero, as
// RedisBloom does for ranks, so a value equal to a single observation gets
// that observation's rank.
func halfRoundDown(f float64) int64 {
	i, frac := math.Modf(f)
	if math.Abs(frac) <= 0.5 {
		return int64(i)
	}
	if i >= 0 {
		return int64(i) + 1
	}
	return int64(i) - 1
}

// rank is TDIGEST.RANK (reverse=false) and TDIGEST.REVRANK (reverse=true).
func (t *tDigest) rank(x float64, reverse bool) int64 {
	switch {
	case t.total == 0:
		return -2
	case x < t.min:
		if reverse {
			return int64(t.total)
		}
		return -1
	case x > t.max:
		if reverse {
			return -1
		}
		return int64(t.total)
	}
	below := t.cdf(x) * t.total
	if reverse {
		return halfRoundDown(t.total - below)
	}
	return halfRoundDown(below)
}

// byRank is TDIGEST.BYRANK (reverse=false) and TDIGEST.BYREVRANK: the value
// at the centre of the rank-th observation; ±Inf past the last.
func (t *tDigest) byRank(r int64, reverse bool) float64 {
	switch {
	case t.total == 0:
		return math.NaN()
	case float64(r) >= t.total:
		if reverse {
			return math.Inf(-1)
		}
		return math.Inf(1)
	}
	q := (float64(r) + 0.5) / t.total
	if reverse {
		q = 1 - q
	}
	return t.quantile(q)
}

// trimmedMean is the mean of the observations between quantiles lo and hi,
// counting the part of each centroid that falls inside.
func (t *tDigest) trimmedMean(lo, hi float64) float64 {
	if t.total == 0 {
		return math.NaN()
	}
	low, high := lo*t.total, hi*t.total
	var sum, weight, cum float64
	for i, m := range t.means {
		left, right := cum, cum+t.weights[i]
		cum = right
		if in := min(right, high) - max(left, low); in > 0 {
			sum += in * m
			weight += in
		}
	}
	if weight == 0 {
		return t.quantile((lo + hi) / 2)
	}
	return sum / weight
}

func (t *tDigest) minValue() float64 {
	if t.total == 0 {
		return math.NaN()
	}
	return t.min
}

func (t *tDigest) maxValue() float64 {
	if t.total == 0 {
		return math.NaN()
	}
	return t.max
}

func (t *tDigest) sizeBytes() int64 { return int64(len(t.means))*16 + 40 }

func (t *tDigest) encode(e *enc) {
	e.f64(t.compression)
	e.f64(t.total)
	e.f64(t.min)
	e.f64(t.max)
	e.uvarint(uint64(len(t.means)))
	for i := range t.means {
		e.f64(t.means[i])
		e.f64(t.weights[i])
	}
}

func decodeTDigest(d *dec) *tDigest {
	t := &tDigest{compression: d.f64(), total: d.f64(), min: d.f64(), max: d.f64()}
	n := d.count(16)
	if d.err != nil || !(t.compression > 0) {
		d.fail()
		return nil
	}
	if n > 0 {
		t.means, t.weights = make([]float64, n), make([]float64, n)
		for i := range n {
			t.means[i], t.weights[i] = d.f64(), d.f64()
		}
	}
	if d.err != nil {
		return nil
	}
	return t
}

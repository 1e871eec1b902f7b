package sketch

import (
	"math"
	"math/bits"
)

// hyperLogLog is a dense HyperLogLog with one byte per register and Ertl's
// improved estimator ("New cardinality estimation algorithms for
// HyperLogLog sketches", 2017), which needs no empirical bias tables and is
// accurate from 0 to far past 2^32 items.
//
// Written here rather than taken from axiomhq/hyperloglog: PFADD must tell
// whether a register changed, which that library's Insert does not report,
// and its sparse mode compacts state during Estimate, so a read on one
// replica would change what a later snapshot of it holds.
type hyperLogLog struct {
	p    uint8
	regs []uint8
	// hist counts registers by value. It is derived from regs (rebuilt on
	// restore, never encoded) and kept up to date by add and merge, so a
	// count costs O(64) instead of a scan of every register.
	hist [66]uint32
}

func newHLL(p uint8) *hyperLogLog {
	h := &hyperLogLog{p: p, regs: make([]uint8, 1<<p)}
	h.hist[0] = 1 << p
	return h
}

func (h *hyperLogLog) rebuildHist() {
	h.hist = [66]uint32{}
	for _, r := range h.regs {
		h.hist[r]++
	}
}

// add inserts an item's hash and reports whether a register grew.
func (h *hyperLogLog) add(x uint64) bool {
	idx := x >> (64 - h.p)
	// The sentinel bit bounds the run of zeros at 64-p, so rho <= 65-p.
	w := x<<h.p | 1<<(h.p-1)
	rho := uint8(bits.LeadingZeros64(w)) + 1
	if old := h.regs[idx]; rho > old {
		h.regs[idx] = rho
		h.hist[old]--
		h.hist[rho]++
		return true
	}
	return false
}

// merge takes the register-wise maximum; precisions match (checked by the caller).
func (h *hyperLogLog) merge(o *hyperLogLog) {
	for i, r := range o.regs {
		if old := h.regs[i]; r > old {
			h.regs[i] = r
			h.hist[old]--
			h.hist[r]++
		}
	}
}

// estimate is Ertl's improved raw estimator (his Algorithm 6) over the
// register histogram of the union of hs, which all share one precision.
func estimate(hs ...*hyperLogLog) uint64 {
	p := hs[0].p
	q := 64 - int(p)
	m := float64(uint64(1) << p)
	var c [66]float64
	if len(hs) == 1 {
		for r, n := range hs[0].hist {
			c[r] = float64(n)
		}
	} else {
		for i := range hs[0].regs {
			r := hs[0].regs[i]
			for _, o := range hs[1:] {
				r = max(r, o.regs[i])
			}
			c[r]++
		}
	}
	z := m * hllTau(1-c[q+1]/m)
	for k := q; k >= 1; k-- {
		z = 0.5 * (z + c[k])
	}
	z += m * hllSigma(c[0]/m)
	const alphaInf = 0.5 / math.Ln2
	est := alphaInf * m * m / z
	if math.IsInf(z, 1) || est < 0 {
		return 0
	}
	return uint64(math.Round(est))
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if z == prev {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		d := 1 - x
		z -= d * d * y
		if z == prev {
			return z / 3
		}
	}
}

func (h *hyperLogLog) sizeBytes() int64 { return int64(len(h.regs)) }

func (h *hyperLogLog) encode(e *enc) {
	e.uvarint(uint64(h.p))
	e.b = append(e.b, h.regs...)
}

func decodeHLL(d *dec) *hyperLogLog {
	p := d.uvarint()
	if d.err != nil || p < minPrecision || p > maxPrecision || len(d.b) < 1<<p {
		d.fail()
		return nil
	}
	h := &hyperLogLog{p: uint8(p), regs: append([]uint8(nil), d.b[:1<<p]...)}
	d.b = d.b[1<<p:]
	for _, r := range h.regs {
		if int(r) > 65-int(p) {
			d.fail()
			return nil
		}
	}
	h.rebuildHist()
	return h
}

package sketch

import (
	"errors"
	"math"

	"github.com/bits-and-blooms/bloom/v3"
)

// tighteningRatio scales the error rate of each added sub-filter, as
// RedisBloom does, so the compound false-positive rate of a scaled filter
// stays below about twice the configured rate however far it grows.
const tighteningRatio = 0.5

// errBloomFull is a non-scaling filter at capacity, or a scaling one whose
// next sub-filter would pass the size limit.
var errBloomFull = errors.New("bloom filter is full")

// bloomFilter is a scalable Bloom filter (Almeida et al.): a chain of
// bits-and-blooms filters, each with Expansion times the capacity of the one
// before and a tighter error rate. An item is present when any sub-filter
// has it; new items go to the last one, and a new sub-filter is added when
// the last is at capacity. The library hashes with murmur3 and no seed, so
// placement is deterministic.
type bloomFilter struct {
	capacity   uint64
	errorRate  float64
	expansion  uint32
	nonScaling bool
	inserted   uint64
	subs       []bloomSub
}

type bloomSub struct {
	f        *bloom.BloomFilter
	capacity uint64
	count    uint64
}

func newBloomFilter(capacity uint64, errorRate float64, expansion uint32, nonScaling bool) *bloomFilter {
	b := &bloomFilter{capacity: capacity, errorRate: errorRate, expansion: expansion, nonScaling: nonScaling}
	b.subs = append(b.subs, newBloomSub(capacity, errorRate))
	return b
}

func newBloomSub(capacity uint64, errorRate float64) bloomSub {
	m, k := bloom.EstimateParameters(uint(capacity), errorRate)
	return bloomSub{f: bloom.New(m, k), capacity: capacity}
}

// subBits is the size in bits of a sub-filter for capacity items at
// errorRate, without allocating it.
func subBits(capacity uint64, errorRate float64) uint64 {
	m, _ := bloom.EstimateParameters(uint(capacity), errorRate)
	return uint64(m)
}

// nextSub is the capacity and error rate of the sub-filter after the last.
func (b *bloomFilter) nextSub() (uint64, float64) {
	last := b.subs[len(b.subs)-1]
	c := last.capacity * uint64(b.expansion)
	if c/uint64(b.expansion) != last.capacity {
		c = math.MaxUint64 // overflow: certainly past any size limit
	}
	return c, b.errorRate * math.Pow(tighteningRatio, float64(len(b.subs)))
}

func (b *bloomFilter) exists(item []byte) bool {
	for i := len(b.subs) - 1; i >= 0; i-- {
		if b.subs[i].f.Test(item) {
			return true
		}
	}
	return false
}

// room checks, without changing anything, that adding n more items fits:
// within capacity for a non-scaling filter, within maxBytes of bits for a
// scaling one. n is an upper bound (the batch's items not yet present), so
// a batch either fits whole or is refused whole.
func (b *bloomFilter) room(n uint64, maxBytes int64) error {
	last := b.subs[len(b.subs)-1]
	free := last.capacity - last.count
	if n <= free {
		return nil
	}
	if b.nonScaling {
		return errBloomFull
	}
	n -= free
	size := b.sizeBytes()
	c, e := b.nextSub()
	for i := len(b.subs); ; i++ {
		if c == math.MaxUint64 {
			return errBloomFull
		}
		size += int64(subBits(c, e)/8 + 1)
		if size > maxBytes {
			return errBloomFull
		}
		if n <= c {
			return nil
		}
		n -= c
		next := c * uint64(b.expansion)
		if next/uint64(b.expansion) != c {
			next = math.MaxUint64
		}
		c, e = next, b.errorRate*math.Pow(tighteningRatio, float64(i+1))
	}
}

// add adds item and reports whether it was new (BF.ADD). The caller has
// checked room.
func (b *bloomFilter) add(item []byte) bool {
	if b.exists(item) {
		return false
	}
	last := &b.subs[len(b.subs)-1]
	if last.count >= last.capacity {
		c, e := b.nextSub()
		b.subs = append(b.subs, newBloomSub(c, e))
		last = &b.subs[len(b.subs)-1]
	}
	last.f.Add(item)
	last.count++
	b.inserted++
	return true
}

// absent counts distinct items of a batch that the filter does not hold:
// an upper bound on how many the batch can add.
func (b *bloomFilter) absent(items [][]byte) uint64 {
	seen := make(map[string]struct{}, len(items))
	for _, it := range items {
		if _, dup := seen[string(it)]; dup || b.exists(it) {
			continue
		}
		seen[string(it)] = struct{}{}
	}
	return uint64(len(seen))
}

// fits checks that a batch of items can be added whole (see room). Most
// batches fit in the last sub-filter's free capacity and skip the count.
func (b *bloomFilter) fits(items [][]byte, maxBytes int64) error {
	last := b.subs[len(b.subs)-1]
	if uint64(len(items)) <= last.capacity-last.count {
		return nil
	}
	return b.room(b.absent(items), maxBytes)
}

func (b *bloomFilter) totalCapacity() uint64 {
	var c uint64
	for _, s := range b.subs {
		c += s.capacity
	}
	return c
}

func (b *bloomFilter) sizeBytes() int64 {
	var n int64
	for _, s := range b.subs {
		n += int64(s.f.Cap()/8 + 1)
	}
	return n
}

func (b *bloomFilter) encode(e *enc) error {
	e.uvarint(b.capacity)
	e.f64(b.errorRate)
	e.uvarint(uint64(b.expansion))
	e.bool(b.nonScaling)
	e.uvarint(b.inserted)
	e.uvarint(uint64(len(b.subs)))
	for _, s := range b.subs {
		e.uvarint(s.capacity)
		e.uvarint(s.count)
		raw, err := s.f.MarshalBinary()
		if err != nil {
			return err
		}
		e.bytes(raw)
	}
	return nil
}

func decodeBloom(d *dec) *bloomFilter {
	b := &bloomFilter{
		capacity:   d.uvarint(),
		errorRate:  d.f64(),
		expansion:  uint32(d.uvarint()),
		nonScaling: d.bool(),
		inserted:   d.uvarint(),
	}
	n := d.count(3)
	for range n {
		s := bloomSub{capacity: d.uvarint(), count: d.uvarint(), f: &bloom.BloomFilter{}}
		raw := d.bytes()
		if d.err != nil {
			return nil
		}
		if err := s.f.UnmarshalBinary(raw); err != nil {
			d.fail()
			return nil
		}
		b.subs = append(b.subs, s)
	}
	if d.err != nil || len(b.subs) == 0 || b.expansion == 0 {
		d.fail()
		return nil
	}
	return b
}

package sketch

import (
	"bytes"
	"math"
	"slices"
)

// topKSeed starts every Top-K's random state. The state then lives in the
// sketch and its snapshot, so decay decisions repeat on every replica.
const topKSeed = 0x5eed_70b4_4eaf_0001

// maxDecayTrials bounds the decay trials one increment makes on one
// colliding bucket, so a huge INCRBY costs bounded time. Past a few hundred
// trials the decay probability of a count that survived them is negligible.
const maxDecayTrials = 1024

// topK is HeavyKeeper (Gong et al., 2018) as RedisBloom implements it:
// depth rows of width buckets holding a fingerprint and a count, plus a
// min-heap of the K items with the largest estimated counts. An item's
// bucket in each row either is empty (take it), holds its fingerprint
// (count up), or holds another's, which decays by one with probability
// decay^count and is taken over when it reaches zero. Big counts almost
// never decay, so heavy hitters keep their buckets.
type topK struct {
	k, width, depth uint32
	decay           float64
	rng             uint64
	fps             []uint32
	counts          []int64
	heap            []topKEntry // min-heap on (count, item)
	index           map[string]int
	decayTable      []float64 // decay^c for small c
}

type topKEntry struct {
	item  []byte
	count int64
}

func newTopK(k, width, depth uint32, decay float64) *topK {
	n := uint64(width) * uint64(depth)
	t := &topK{k: k, width: width, depth: depth, decay: decay, rng: topKSeed,
		fps: make([]uint32, n), counts: make([]int64, n), index: map[string]int{}}
	t.initTable()
	return t
}

func (t *topK) initTable() {
	t.decayTable = make([]float64, 256)
	for i := range t.decayTable {
		t.decayTable[i] = math.Pow(t.decay, float64(i))
	}
}

func (t *topK) decayP(count int64) float64 {
	if count < int64(len(t.decayTable)) {
		return t.decayTable[count]
	}
	return math.Pow(t.decay, float64(count))
}

// chance is a uniform float64 in [0, 1) from the sketch's own state.
func (t *topK) chance() float64 {
	return float64(splitmix64(&t.rng)>>11) / (1 << 53)
}

// less orders the heap: smaller count first, ties by item bytes (larger
// bytes first), so the list's order of ties is deterministic.
func (t *topK) less(a, b topKEntry) bool {
	if a.count != b.count {
		return a.count < b.count
	}
	return bytes.Compare(a.item, b.item) > 0
}

// incr adds n to item and returns the item it expelled from the top K, if any.
func (t *topK) incr(item []byte, h uint64, n int64) []byte {
	fp := uint32(fmix64(h ^ 0x9e3779b97f4a7c15))
	var est int64
	for i := range t.depth {
		k := uint64(i)*uint64(t.width) + uint64(rowIndex(h, i, t.width))
		switch {
		case t.counts[k] == 0:
			t.fps[k], t.counts[k] = fp, n
			est = max(est, n)
		case t.fps[k] == fp:
			if t.counts[k] > math.MaxInt64-n {
				t.counts[k] = math.MaxInt64
			} else {
				t.counts[k] += n
			}
			est = max(est, t.counts[k])
		default:
			left := n
			for trial := 0; left > 0 && trial < maxDecayTrials; trial++ {
				if t.chance() < t.decayP(t.counts[k]) {
					t.counts[k]--
					if t.counts[k] == 0 {
						t.fps[k], t.counts[k] = fp, left
						est = max(est, left)
						break
					}
				}
				left--
			}
		}
	}
	if est == 0 {
		return nil
	}
	if i, ok := t.index[string(item)]; ok {
		t.heap[i].count = est
		t.fix(i)
		return nil
	}
	if uint32(len(t.heap)) < t.k {
		t.heap = append(t.heap, topKEntry{item: bytes.Clone(item), count: est})
		t.index[string(item)] = len(t.heap) - 1
		t.up(len(t.heap) - 1)
		return nil
	}
	if est <= t.heap[0].count {
		return nil
	}
	out := t.heap[0].item
	delete(t.index, string(out))
	t.heap[0] = topKEntry{item: bytes.Clone(item), count: est}
	t.index[string(item)] = 0
	t.down(0)
	return out
}

func (t *topK) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.index[string(t.heap[i].item)] = i
	t.index[string(t.heap[j].item)] = j
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(t.heap[i], t.heap[p]) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && t.less(t.heap[r], t.heap[l]) {
			c = r
		}
		if !t.less(t.heap[c], t.heap[i]) {
			return
		}
		t.swap(i, c)
		i = c
	}
}

func (t *topK) fix(i int) {
	t.up(i)
	t.down(i)
}

func (t *topK) contains(item []byte) bool {
	_, ok := t.index[string(item)]
	return ok
}

// list is the top K, highest count first, ties in byte order of the item.
func (t *topK) list() []topKEntry {
	out := slices.Clone(t.heap)
	slices.SortFunc(out, func(a, b topKEntry) int {
		if a.count != b.count {
			if a.count > b.count {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.item, b.item)
	})
	return out
}

func (t *topK) sizeBytes() int64 {
	n := int64(len(t.fps))*12 + int64(len(t.decayTable))*8
	for _, e := range t.heap {
		n += int64(len(e.item)) + 16
	}
	return n
}

func (t *topK) encode(e *enc) {
	e.uvarint(uint64(t.k))
	e.uvarint(uint64(t.width))
	e.uvarint(uint64(t.depth))
	e.f64(t.decay)
	e.u64(t.rng)
	for i := range t.fps {
		e.uvarint(uint64(t.fps[i]))
		e.varint(t.counts[i])
	}
	e.uvarint(uint64(len(t.heap)))
	for _, h := range t.heap {
		e.bytes(h.item)
		e.varint(h.count)
	}
}

func decodeTopK(d *dec) *topK {
	k, w, dep := d.uvarint(), d.uvarint(), d.uvarint()
	decay := d.f64()
	rng := d.u64()
	if d.err != nil || k == 0 || w == 0 || dep == 0 || k > math.MaxUint32 || w > math.MaxUint32 || dep > math.MaxUint32 ||
		w*dep > uint64(len(d.b))/2 || !(decay > 0 && decay <= 1) {
		d.fail()
		return nil
	}
	t := newTopK(uint32(k), uint32(w), uint32(dep), decay)
	t.rng = rng
	for i := range t.fps {
		fp := d.uvarint()
		t.fps[i], t.counts[i] = uint32(fp), d.varint()
	}
	n := d.count(2)
	if uint64(n) > k {
		d.fail()
		return nil
	}
	t.heap = make([]topKEntry, n)
	for i := range t.heap {
		t.heap[i] = topKEntry{item: d.bytes(), count: d.varint()}
		t.index[string(t.heap[i].item)] = i
	}
	if d.err != nil || len(t.index) != n {
		d.fail()
		return nil
	}
	return t
}

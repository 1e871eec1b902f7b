package sketch

// hash64 is the one item hash of HLL, Count-Min and Top-K: FNV-1a over the
// bytes, then the murmur3 64-bit finaliser so that every output bit depends
// on every input bit. It has no seed and no per-process state, which is what
// keeps every replica (and every replay) placing an item in the same
// registers and counters.
func hash64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return fmix64(h)
}

func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// rowIndex is the column of row i for a hash h in a table of width columns:
// double hashing (Kirsch–Mitzenmacher) derives the rows' independent-enough
// indexes from one 64-bit hash.
func rowIndex(h uint64, i, width uint32) uint32 {
	a := h & 0xffffffff
	b := (h >> 32) | 1
	return uint32((a + uint64(i)*b) % uint64(width))
}

// splitmix64 advances a 64-bit state and returns the next pseudo-random
// value. Top-K keeps its state in the sketch (and its snapshot), so decay
// decisions repeat exactly on every replica.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

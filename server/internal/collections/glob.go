package collections

import (
	"errors"
	"math/bits"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// MATCH patterns follow Redis's glob (stringmatchlen in Redis's util.c):
//
//   - '*' matches any run of bytes, '?' any one byte;
//   - '[...]' one byte of a class, '[^...]' one byte not in it; in a class,
//     'x-y' is the range between x and y in either order (even when y is
//     ']'), '\x' is x, and the first ']' closes the class, so "[]" matches
//     nothing and "[^]" any byte;
//   - '\x' outside a class is x;
//   - every other byte is itself (bytes, not runes; case counts).
//
// Ranges compare bytes as unsigned (Redis on x86 compares C's signed char,
// so there a range with one end below 0x80 and one above differs).
//
// Where Redis reads a pattern by running off its end (a class never closed,
// as in "[abc" or "[a-]", or a trailing '\'), this server refuses it as
// malformed instead of guessing (CheckGlob).
//
// Matching costs O(len(s) * (1 + len(segment)/64)) for the longest piece of
// pattern between two '*'s (at most 8 bytes per byte of s for short pieces),
// never the O(len(pattern) * len(s)) of backtracking: the pattern is split
// at its '*'s into fixed-width segments, the first anchored at the start,
// the last at the end, and each middle one found at its leftmost place after
// the previous one (the leftmost place never loses a match), with a
// bit-parallel (shift-and) search for segments longer than 8 bytes.

// byteSet is a set of bytes: what one pattern position accepts.
type byteSet [4]uint64

func (b *byteSet) add(c byte)      { b[c>>6] |= 1 << (c & 63) }
func (b *byteSet) has(c byte) bool { return b[c>>6]&(1<<(c&63)) != 0 }

func (b *byteSet) addRange(lo, hi byte) {
	if lo > hi {
		lo, hi = hi, lo
	}
	for c := int(lo); c <= int(hi); c++ {
		b.add(byte(c))
	}
}

func (b *byteSet) invert() {
	for i := range b {
		b[i] = ^b[i]
	}
}

// segment is a run of pattern positions between '*'s, one byte each.
type segment struct {
	pos []byteSet
	// masks is the shift-and table for long segments: masks[c*words+w] has
	// bit i of word w set when position 64w+i accepts c.
	masks []uint64
	words int
}

// shortSegment is the longest segment searched by trying each place.
const shortSegment = 8

// glob is a compiled pattern.
type glob struct {
	first, last segment   // anchored at the start and the end
	middle      []segment // found in order between them
	star        bool      // without a '*', first is the whole pattern
}

var errMalformed = errors.New("malformed pattern: a '[' class is not closed (in a class, x-y is a range even when y is ']') or the pattern ends in '\\'")

// CheckGlob checks the glob pattern of field (see compileGlob): the
// invalid_argument Result naming field, or nil.
func CheckGlob(field, pattern string) *commonpb.Result {
	if _, err := compileGlob(pattern); err != nil {
		return result.Invalid(field, "malformed pattern (a [ class not closed, or a trailing \\)")
	}
	return nil
}

// Glob reports whether s matches pattern; a malformed pattern matches
// nothing.
func Glob(pattern, s string) bool {
	g, err := compileGlob(pattern)
	return err == nil && g.match(s)
}

// compileGlob parses pattern, reading each class as Redis does.
func compileGlob(pattern string) (*glob, error) {
	g := &glob{}
	var cur []byteSet
	var segs [][]byteSet
	for i := 0; i < len(pattern); i++ {
		var set byteSet
		switch c := pattern[i]; c {
		case '*':
			for i+1 < len(pattern) && pattern[i+1] == '*' {
				i++
			}
			g.star = true
			segs = append(segs, cur)
			cur = nil
			continue
		case '?':
			set.invert()
		case '\\':
			if i+1 >= len(pattern) {
				return nil, errMalformed
			}
			i++
			set.add(pattern[i])
		case '[':
			end, cls, ok := parseClass(pattern, i)
			if !ok {
				return nil, errMalformed
			}
			set, i = cls, end
		default:
			set.add(c)
		}
		cur = append(cur, set)
	}
	segs = append(segs, cur)
	g.first = newSegment(segs[0], false)
	if g.star {
		g.last = newSegment(segs[len(segs)-1], false)
		for _, s := range segs[1 : len(segs)-1] {
			g.middle = append(g.middle, newSegment(s, true))
		}
	}
	return g, nil
}

// parseClass reads the class opening at pattern[i] ('['), as Redis does, and
// answers its set and the index of its closing ']'.
func parseClass(pattern string, i int) (end int, set byteSet, ok bool) {
	j := i + 1
	neg := j < len(pattern) && pattern[j] == '^'
	if neg {
		j++
	}
	for {
		switch {
		case j >= len(pattern):
			return 0, set, false
		case pattern[j] == '\\' && j+1 < len(pattern):
			set.add(pattern[j+1])
			j += 2
		case pattern[j] == ']':
			if neg {
				set.invert()
			}
			return j, set, true
		case j+2 < len(pattern) && pattern[j+1] == '-':
			set.addRange(pattern[j], pattern[j+2])
			j += 3
		default:
			set.add(pattern[j])
			j++
		}
	}
}

func newSegment(pos []byteSet, searched bool) segment {
	s := segment{pos: pos}
	if !searched || len(pos) <= shortSegment {
		return s
	}
	s.words = (len(pos) + 63) / 64
	s.masks = make([]uint64, 256*s.words)
	for i, set := range pos {
		for w := range set {
			for b := set[w]; b != 0; b &= b - 1 {
				c := w*64 + bits.TrailingZeros64(b)
				s.masks[c*s.words+i/64] |= 1 << (i % 64)
			}
		}
	}
	return s
}

// at reports whether the segment matches s at offset i (which must leave
// room for it).
func (sg *segment) at(s string, i int) bool {
	for k := range sg.pos {
		if !sg.pos[k].has(s[i+k]) {
			return false
		}
	}
	return true
}

// find answers the leftmost offset of s where the segment matches, or -1.
func (sg *segment) find(s string) int {
	n := len(sg.pos)
	if sg.masks == nil {
		for i := 0; i+n <= len(s); i++ {
			if sg.at(s, i) {
				return i
			}
		}
		return -1
	}
	// Shift-and: bit k of state is set when the segment's first k+1
	// positions match the bytes ending at i.
	state := make([]uint64, sg.words)
	top, topBit := (n-1)/64, uint64(1)<<((n-1)%64)
	for i := 0; i < len(s); i++ {
		mask := sg.masks[int(s[i])*sg.words:]
		carry := uint64(1)
		for w := range state {
			next := state[w]<<1 | carry
			carry = state[w] >> 63
			state[w] = next & mask[w]
		}
		if state[top]&topBit != 0 {
			return i - n + 1
		}
	}
	return -1
}

// costPerByte is the matching work per byte of s, in units of one byte
// compared: up to shortSegment per byte for a short middle segment, one
// per word of state for a long one.
func (g *glob) costPerByte() int {
	c := 1
	for i := range g.middle {
		if w := g.middle[i].words; w > 0 {
			c = max(c, w)
		} else {
			c = max(c, len(g.middle[i].pos))
		}
	}
	return c
}

func (g *glob) match(s string) bool {
	nf := len(g.first.pos)
	if !g.star {
		return len(s) == nf && g.first.at(s, 0)
	}
	nl := len(g.last.pos)
	if len(s) < nf+nl || !g.first.at(s, 0) || !g.last.at(s, len(s)-nl) {
		return false
	}
	rest := s[nf : len(s)-nl]
	for i := range g.middle {
		k := g.middle[i].find(rest)
		if k < 0 {
			return false
		}
		rest = rest[k+len(g.middle[i].pos):]
	}
	return true
}

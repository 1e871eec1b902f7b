package collections

import (
	"container/heap"
	"errors"
	"sort"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/pagetoken"
)

// A scan cursor is the last item answered, in an opaque, checksummed token
// (package pagetoken: items may be arbitrary bytes, cursors travel as
// strings, and one this server did not answer is refused). Pages answer
// items in byte order after the cursor, so an item present for the whole
// scan is answered exactly once whatever changes in between.

const cursorScope = "collections.scan"

func encodeCursor(last string) string { return pagetoken.Encode(cursorScope, last) }

func decodeCursor(c string) (string, error) {
	pos, err := pagetoken.Decode(cursorScope, c)
	if err != nil {
		return "", errors.New("not a cursor this server answered; pass the previous page's cursor unchanged, or empty to start")
	}
	return pos, nil
}

// ValidCursor reports whether c is empty or a cursor this server answers.
func ValidCursor(c string) bool { _, err := decodeCursor(c); return err == nil }

// scanPage answers up to count (0: the default) items of each, greater than
// after and matching the glob pattern, in byte order, and the cursor of the
// next page ("" when none remains). It keeps only count+1 candidates, so a
// page costs O(n log count), not a sort of everything.
func scanPage(each func(yield func(string) bool), after, match string, count int) ([]string, string) {
	if count <= 0 {
		count = defaultScanCount
	}
	count = min(count, maxScanHint)
	h := &maxHeap{}
	each(func(item string) bool {
		if item <= after && after != "" {
			return true
		}
		if match != "" && !Glob(match, item) {
			return true
		}
		if h.Len() <= count {
			heap.Push(h, item)
		} else if item < (*h)[0] {
			(*h)[0] = item
			heap.Fix(h, 0)
		}
		return true
	})
	items := []string(*h)
	sort.Strings(items)
	if len(items) > count {
		items = items[:count]
		return items, encodeCursor(items[count-1])
	}
	return items, ""
}

type maxHeap []string

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// ValidGlob reports whether pattern is a well-formed glob: every '[' closed,
// no trailing '\'.
func ValidGlob(pattern string) bool {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			if i++; i >= len(pattern) {
				return false
			}
		case '[':
			j := i + 1
			if j < len(pattern) && pattern[j] == '^' {
				j++
			}
			if j < len(pattern) && pattern[j] == ']' {
				j++ // a leading ']' is literal
			}
			for j < len(pattern) && pattern[j] != ']' {
				if pattern[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(pattern) {
				return false
			}
			i = j
		}
	}
	return true
}

// Glob matches s against a Redis MATCH pattern: '*' any run of bytes, '?'
// one byte, '[abc]', '[^abc]' and '[a-z]' classes, '\' escapes. Patterns are
// checked with ValidGlob first; a malformed one matches nothing.
func Glob(pattern, s string) bool {
	// Iterative with one backtrack point for the last '*': linear for
	// patterns without classes, never exponential.
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starI = p, i
				p++
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if end, hit, ok := matchClass(pattern, p, s[i]); ok && hit {
					p = end
					i++
					continue
				}
			case '\\':
				if p+1 < len(pattern) && pattern[p+1] == s[i] {
					p += 2
					i++
					continue
				}
			default:
				if c == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches b against the class starting at pattern[p] ('[') and
// returns the index after the class.
func matchClass(pattern string, p int, b byte) (end int, hit, ok bool) {
	j := p + 1
	neg := false
	if j < len(pattern) && pattern[j] == '^' {
		neg = true
		j++
	}
	first := true
	for j < len(pattern) && (first || pattern[j] != ']') {
		first = false
		lo := pattern[j]
		if lo == '\\' && j+1 < len(pattern) {
			j++
			lo = pattern[j]
		}
		hi := lo
		if j+2 < len(pattern) && pattern[j+1] == '-' && pattern[j+2] != ']' {
			hi = pattern[j+2]
			if hi == '\\' && j+3 < len(pattern) {
				j++
				hi = pattern[j+2]
			}
			j += 2
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if b >= lo && b <= hi {
			hit = true
		}
		j++
	}
	if j >= len(pattern) {
		return 0, false, false
	}
	return j + 1, hit != neg, true
}

package collections

import (
	"container/heap"
	"errors"
	"sort"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/pagetoken"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// A scan cursor is the last item answered or examined, in an opaque,
// checksummed token (package pagetoken: items may be arbitrary bytes,
// cursors travel as strings, and one this server did not answer is
// refused). Pages answer
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

// CheckCursor checks the cursor of field: empty or a cursor this server
// answered. It answers the invalid_argument Result naming field, or nil.
func CheckCursor(field, c string) *commonpb.Result {
	if _, err := decodeCursor(c); err != nil {
		return result.Invalid(field, "not a cursor this server answered")
	}
	return nil
}

// A scan page is made in two steps, so that the state lock is held only for
// a walk of the key's items, never for matching, whose cost depends on the
// pattern and the items' sizes:
//
//   - under the read lock, collect keeps the limit smallest items after the
//     cursor (O(n log limit) for a key of n items, no matching); Go strings
//     and stored values are never changed in place, so the items stay valid
//     once the lock is released;
//   - outside it, finish matches them in byte order, up to count matches and
//     scanBudget bytes examined, each byte of a name weighted by the
//     pattern's matching cost per byte, so a page costs about the same work
//     whatever the pattern.
//
// Without a pattern limit is count, so a page holds count items unless the
// byte budget ends it. With one, limit is scanExamineFactor times count (at
// most maxScanExamine, at least count): when fewer than count of those
// match, the page is short (even empty) and its cursor is the last item
// examined, as Redis's MATCH filters a page after it is gathered. The byte
// budget also keeps every page under MaxResponseBytes (its first item is
// always examined, so each page makes progress).

const (
	scanExamineFactor = 8
	maxScanExamine    = 10_000
	scanBudget        = MaxResponseBytes
)

// scanItem is one candidate: its name (what MATCH tests and the cursor
// orders) and, for a hash field, its value.
type scanItem struct {
	name string
	val  []byte
}

func (it scanItem) size() int { return len(it.name) + len(it.val) }

// scan is one page's request, parsed before the lock is taken.
type scan struct {
	after        string
	g            *glob // nil: every item
	count, limit int
}

func newScan(cursor, match string, count int32) (*scan, *commonpb.Result) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, result.Failf(result.CodeInvalidArgument, "cursor: %v", err)
	}
	sc := &scan{after: after, count: int(count)}
	if sc.count <= 0 {
		sc.count = defaultScanCount
	}
	sc.count = min(sc.count, maxScanHint)
	sc.limit = sc.count
	if match != "" {
		if sc.g, err = compileGlob(match); err != nil {
			return nil, result.Failf(result.CodeInvalidArgument, "match: %v", err)
		}
		sc.limit = max(sc.count, min(sc.count*scanExamineFactor, maxScanExamine))
	}
	return sc, nil
}

// collect answers the limit smallest items of each after the cursor, in
// byte order, and whether more remain. Call it under the read lock.
func (sc *scan) collect(each func(yield func(scanItem) bool)) (items []scanItem, more bool) {
	h := &maxHeap{}
	each(func(it scanItem) bool {
		if sc.after != "" && it.name <= sc.after {
			return true
		}
		if h.Len() <= sc.limit {
			heap.Push(h, it)
		} else if it.name < (*h)[0].name {
			(*h)[0] = it
			heap.Fix(h, 0)
		}
		return true
	})
	items = []scanItem(*h)
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	if len(items) > sc.limit {
		return items[:sc.limit], true
	}
	return items, false
}

// finish matches collected items, without the lock, and answers the page
// and the cursor of the next one ("" when none remains).
func (sc *scan) finish(items []scanItem, more bool) ([]scanItem, string) {
	var page []scanItem
	factor := 1
	if sc.g != nil {
		factor = sc.g.costPerByte()
	}
	examined := 0
	for i, it := range items {
		cost := it.size() + (factor-1)*len(it.name)
		if i > 0 && examined+cost > scanBudget {
			return page, encodeCursor(items[i-1].name)
		}
		examined += cost
		if sc.g != nil && !sc.g.match(it.name) {
			continue
		}
		page = append(page, it)
		if len(page) == sc.count {
			if i < len(items)-1 || more {
				return page, encodeCursor(it.name)
			}
			return page, ""
		}
	}
	if more {
		return page, encodeCursor(items[len(items)-1].name)
	}
	return page, ""
}

type maxHeap []scanItem

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i].name > h[j].name }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(scanItem)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

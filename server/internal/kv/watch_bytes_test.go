package kv

import (
	"fmt"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
)

// A watch batch bounded by bytes stops before the change that would pass
// the bound, always holds at least one change (even one larger than the
// bound alone), and resumes where it stopped, so every change still comes
// once, in order, whether it is served from the change log or from the
// retained history.
func TestWatchNextBytesBoundsTheBatch(t *testing.T) {
	for _, backlog := range []int{1000, 5} { // change log, then history
		t.Run(fmt.Sprint("backlog", backlog), func(t *testing.T) {
			h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", History: 64})
			h.m.SetWatchBacklog(backlog, 1<<20)
			id, _, start, _ := h.m.WatchStart("b", Filter{Pattern: ">"}, 0, StartLatest)
			for i := range 40 {
				v := "0123456789" // 12 bytes with the key
				if i == 17 {
					v = strings.Repeat("x", 500) // alone above the bound
				}
				h.put(fmt.Sprintf("k%d", i%10), v)
			}
			const maxBytes = 50
			var revs []uint64
			after := start
			for {
				got, rev, r := h.m.WatchNextBytes("b", id, Filter{Pattern: ">"}, after, 100, maxBytes, nil)
				if r != nil {
					t.Fatal(r)
				}
				if len(got) == 0 {
					break
				}
				var size int
				for _, e := range got {
					size += len(e.Key) + len(e.Value)
					revs = append(revs, e.Revision)
				}
				if len(got) > 1 && size > maxBytes {
					t.Fatalf("batch after %d: %d changes, %d bytes, above the bound %d", after, len(got), size, maxBytes)
				}
				after = rev
			}
			if !equal(revs, consecutive(1, 40)) {
				t.Fatalf("got %v, want revisions 1..40", revs)
			}
		})
	}
}

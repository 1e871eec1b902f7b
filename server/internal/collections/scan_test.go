package collections

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Paging with MATCH answers every matching member exactly once, in byte
// order, with pages of at most count members; a page may be short (MATCH
// filters what a page examined, as in Redis), but every page makes progress.
func TestScanMatchPagesComplete(t *testing.T) {
	m := New()
	create(t, m, 0, setCfg("s"))
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	var members [][]byte
	for len(members) < 600 {
		b := make([]byte, 1+rng.IntN(6))
		for i := range b {
			b[i] = "abcdx"[rng.IntN(5)]
		}
		if !seen[string(b)] {
			seen[string(b)] = true
			members = append(members, b)
		}
	}
	apply[*pb.CollectionsServiceSAddResponse](t, m, OpSAdd, 1, &pb.CollectionsServiceSAddRequest{Store: "s", Key: "k", Members: members})
	for _, pattern := range []string{"", "*", "a*", "*b?", "[a-c]*[^d]", "x", "xxxxxx", "*q*", "?"} {
		var want []string
		for mb := range seen {
			if pattern == "" || Glob(pattern, mb) {
				want = append(want, mb)
			}
		}
		sort.Strings(want)
		for _, count := range []int32{1, 3, 7, 100, 10_000} {
			var got []string
			pages := 0
			for cursor := ""; ; {
				r := m.SScan(&pb.CollectionsServiceSScanRequest{Store: "s", Key: "k", Cursor: cursor, Match: pattern, Count: count})
				if !r.GetResult().GetSuccess() {
					t.Fatal(r.GetResult())
				}
				if len(r.GetMembers()) > int(count) {
					t.Fatalf("MATCH %q COUNT %d: a page of %d", pattern, count, len(r.GetMembers()))
				}
				for _, mb := range r.GetMembers() {
					got = append(got, string(mb))
				}
				pages++
				if pages > len(seen)+1 {
					t.Fatalf("MATCH %q COUNT %d: %d pages for %d members", pattern, count, pages, len(seen))
				}
				if cursor = r.GetCursor(); cursor == "" {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("MATCH %q COUNT %d: %d members answered, %d match", pattern, count, len(got), len(want))
			}
		}
	}
}

// A page stays under the response limit however large COUNT is, and a
// field larger than the budget still comes, alone on its page.
func TestScanPageBytesBounded(t *testing.T) {
	m := New()
	create(t, m, 0, hashCfg("h"))
	big := bytes.Repeat([]byte("v"), 1<<20)
	want := map[string]bool{}
	for i := range 9 {
		f := fmt.Sprintf("f%d", i)
		want[f] = true
		apply[*pb.CollectionsServiceHSetResponse](t, m, OpHSet, 1, &pb.CollectionsServiceHSetRequest{Store: "h", Key: "k", Fields: map[string][]byte{f: big}})
	}
	for _, match := range []string{"", "f*", "*[0-9]"} {
		got := map[string]bool{}
		for cursor := ""; ; {
			r := m.HScan(&pb.CollectionsServiceHScanRequest{Store: "h", Key: "k", Cursor: cursor, Match: match, Count: 10_000}, 2)
			size := 0
			for _, f := range r.GetFields() {
				size += len(f.GetField()) + len(f.GetValue())
				if got[f.GetField()] {
					t.Fatalf("%s answered twice", f.GetField())
				}
				got[f.GetField()] = true
			}
			if size > MaxResponseBytes {
				t.Fatalf("MATCH %q: a page of %d bytes, past %d", match, size, MaxResponseBytes)
			}
			if cursor = r.GetCursor(); cursor == "" {
				break
			}
		}
		if len(got) != len(want) {
			t.Fatalf("MATCH %q: %d of %d fields answered", match, len(got), len(want))
		}
	}
}

// A malformed pattern or cursor reaching the state machine directly is
// refused naming the field, not matched as nothing.
func TestScanRefusesMalformed(t *testing.T) {
	m := New()
	create(t, m, 0, setCfg("s"))
	r := m.SScan(&pb.CollectionsServiceSScanRequest{Store: "s", Key: "k", Match: "[abc"})
	if r.GetResult().GetResultCode() != result.CodeInvalidArgument || !bytes.HasPrefix([]byte(r.GetResult().GetMessage()), []byte("match: ")) {
		t.Fatalf("SSCAN MATCH [abc: %v", r.GetResult())
	}
	k := m.ScanKeys(&pb.CollectionsServiceScanKeysRequest{Store: "s", Cursor: "!"}, 0)
	if k.GetResult().GetResultCode() != result.CodeInvalidArgument || !bytes.HasPrefix([]byte(k.GetResult().GetMessage()), []byte("cursor: ")) {
		t.Fatalf("SCAN with a bad cursor: %v", k.GetResult())
	}
}

package kv

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// drain reads every change above after through WatchNext in batches of
// max, as the API layer does, and answers their revisions.
func drain(t *testing.T, m *Machine, id uint64, f Filter, after uint64, max int) ([]uint64, *commonpb.Result) {
	t.Helper()
	var revs []uint64
	for {
		got, rev, r := m.WatchNext("b", id, f, after, max, nil)
		if r != nil {
			return revs, r
		}
		for _, e := range got {
			revs = append(revs, e.Revision)
		}
		if rev == after && len(got) == 0 {
			return revs, nil
		}
		after = rev
	}
}

func consecutive(from, to uint64) []uint64 {
	var out []uint64
	for r := from; r <= to; r++ {
		out = append(out, r)
	}
	return out
}

func equal(a, b []uint64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// With History 1, overwritten entries leave the history at once; a watcher
// behind the writers still gets every one of them, from the change log.
func TestChangeLogServesOverwrittenEntries(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", History: 1})
	h.m.SetWatchBacklog(100, 1<<20)
	id, _, start, _ := h.m.WatchStart("b", Filter{Pattern: ">"}, 0, StartLatest)
	for i := range 50 {
		h.put(fmt.Sprintf("k%d", i%3), "v")
	}
	revs, r := drain(t, h.m, id, Filter{Pattern: ">"}, start, 7)
	if r != nil || !equal(revs, consecutive(1, 50)) {
		t.Fatalf("got %v, %v; want revisions 1..50", revs, r)
	}
	// A literal pattern gets every change of its key.
	revs, _ = drain(t, h.m, id, Filter{Pattern: "k1"}, 0, 4)
	var want []uint64
	for i := range 50 {
		if i%3 == 1 {
			want = append(want, uint64(i+1))
		}
	}
	if !equal(revs, want) {
		t.Fatalf("literal: got %v, want %v", revs, want)
	}
	// A resumed watch gets the same backlog.
	_, got, _, res := h.m.WatchStart("b", Filter{Pattern: ">"}, 40, StartChanges)
	if res != nil || len(got) != 10 || got[0].Revision != 41 {
		t.Fatalf("resume: %d entries, %v", len(got), res)
	}
}

// A watcher further behind than the change log and the history hold is
// told compacted, naming where it may resume; from there it gets the rest
// without a gap.
func TestChangeLogCompacted(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", History: 1})
	h.m.SetWatchBacklog(10, 1<<20)
	id, _, _, _ := h.m.WatchStart("b", Filter{Pattern: ">"}, 0, StartLatest)
	for range 30 {
		h.put("k", "v") // revisions 1..30; 1..20 are gone from both
	}
	_, r := drain(t, h.m, id, Filter{Pattern: ">"}, 5, 3)
	if r.GetResultCode() != codeCompacted || !strings.Contains(r.GetMessage(), "resume from revision 20 ") {
		t.Fatalf("got %v, want compacted naming revision 20", r)
	}
	if _, _, _, r := h.m.WatchStart("b", Filter{Pattern: ">"}, 19, StartChanges); r.GetResultCode() != codeCompacted {
		t.Fatalf("resume from 19: %v", r)
	}
	revs, r := drain(t, h.m, id, Filter{Pattern: ">"}, 20, 3)
	if r != nil || !equal(revs, consecutive(21, 30)) {
		t.Fatalf("from 20: %v, %v", revs, r)
	}
	// A resume point the bucket never reached is a bucket that was deleted.
	if _, _, _, r := h.m.WatchStart("b", Filter{Pattern: ">"}, 31, StartChanges); r.GetResultCode() != result.CodeNotFound {
		t.Fatalf("resume from 31: %v", r)
	}
	// The initial phases are served from the state and never compacted.
	if _, got, _, r := h.m.WatchStart("b", Filter{Pattern: ">"}, 0, StartHistory); r != nil || len(got) != 1 {
		t.Fatalf("history: %v %v", got, r)
	}
}

// Older than the change log but still retained by the history: served from
// the history, as long as nothing after the resume point was dropped.
func TestChangeLogFallsBackOnHistory(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", History: 64})
	h.m.SetWatchBacklog(5, 1<<20)
	id, _, _, _ := h.m.WatchStart("b", Filter{Pattern: ">"}, 0, StartLatest)
	for i := range 20 {
		h.put(fmt.Sprintf("k%d", i), "v")
	}
	revs, r := drain(t, h.m, id, Filter{Pattern: ">"}, 0, 4)
	if r != nil || !equal(revs, consecutive(1, 20)) {
		t.Fatalf("got %v, %v", revs, r)
	}
	// Purging k3 (revision 4) makes a hole there.
	h.ok(h.apply(OpPurge, &kvpb.KVServicePurgeRequest{Bucket: "b", Key: "k3"}))
	if _, r := drain(t, h.m, id, Filter{Pattern: ">"}, 3, 4); r.GetResultCode() != codeCompacted {
		t.Fatalf("across the purged entry: %v", r)
	}
	revs, r = drain(t, h.m, id, Filter{Pattern: ">"}, 4, 4)
	if r != nil || !equal(revs, consecutive(5, 21)) {
		t.Fatalf("after the purged entry: %v, %v", revs, r)
	}
}

// The byte bound evicts too, keeping at least the newest change.
func TestChangeLogByteBound(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", History: 1})
	h.m.SetWatchBacklog(1000, 10)
	for range 5 {
		h.put("key", "12345678") // 11 bytes each: over the bound alone
	}
	b := h.m.buckets["b"]
	if n := b.changes.len(); n != 1 || b.hole != 4 {
		t.Fatalf("change log holds %d, hole %d; want 1 and 4", n, b.hole)
	}
}

// A snapshot carries the change log: after a restore a lagging watcher
// still gets every change, and the hole is where it was.
func TestChangeLogSnapshot(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", History: 2, TtlMs: 1000})
	h.m.SetWatchBacklog(20, 1<<20)
	for i := range 40 {
		h.put(fmt.Sprintf("k%d", i%4), "v")
	}
	h.ok(h.apply(OpDelete, &kvpb.KVServiceDeleteRequest{Bucket: "b", Key: "k0"})) // 41
	h.now += 2000
	h.m.Tick(h.now) // expiry: purge markers, 42..44 (k0 was deleted)
	write, err := h.m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	m2 := New()
	m2.SetWatchBacklog(20, 1<<20)
	if err := m2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	want, _, _ := drainAll(t, h.m)
	got, hole, rev := drainAll(t, m2)
	if !equal(got, want) || hole != h.m.buckets["b"].hole || rev != 44 {
		t.Fatalf("restored changes %v hole %d rev %d, want %v hole %d rev 44", got, hole, rev, want, h.m.buckets["b"].hole)
	}
	if !equal(got, consecutive(25, 44)) {
		t.Fatalf("changes %v", got)
	}
	// Restored with a smaller bound, the log shrinks and the hole follows.
	write, _ = h.m.Snapshot()
	buf.Reset()
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	m3 := New()
	m3.SetWatchBacklog(3, 1<<20)
	if err := m3.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got, hole, _ := drainAll(t, m3); !equal(got, consecutive(hole+1, 44)) || hole < 41 {
		t.Fatalf("smaller bound: %v hole %d", got, hole)
	}
}

// drainAll answers every change a watch resuming from the hole gets.
func drainAll(t *testing.T, m *Machine) ([]uint64, uint64, uint64) {
	t.Helper()
	m.mu.RLock()
	b := m.buckets["b"]
	id, hole, rev := b.id, b.hole, b.rev
	m.mu.RUnlock()
	revs, r := drain(t, m, id, Filter{Pattern: ">"}, hole, 3)
	if r != nil {
		t.Fatalf("from the hole: %v", r)
	}
	return revs, hole, rev
}

// A version 1 snapshot has no change log: a watch resuming from before its
// revision is compacted, never served with a gap.
func TestChangeLogVersion1Snapshot(t *testing.T) {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	if err := enc.Encode(snapHeader{Version: 1, LastID: 1, Buckets: 1}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(snapBucket{ID: 1, Name: "b", History: 1, MaxValue: 100, Rev: 9,
		Entries: []snapEntry{{Key: "k", Value: []byte("v"), Rev: 9, Op: int32(kvpb.KVOperation_KV_OPERATION_PUT)}}}); err != nil {
		t.Fatal(err)
	}
	m := New()
	if err := m.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if _, _, _, r := m.WatchStart("b", Filter{Pattern: ">"}, 3, StartChanges); r.GetResultCode() != codeCompacted {
		t.Fatalf("resume before a version 1 snapshot: %v", r)
	}
	m.ApplyOp(OpPut, 0, must(proto.Marshal(&kvpb.KVServicePutRequest{Bucket: "b", Key: "k", Value: []byte("w")})))
	if _, got, _, r := m.WatchStart("b", Filter{Pattern: ">"}, 9, StartChanges); r != nil || len(got) != 1 || got[0].Revision != 10 {
		t.Fatalf("resume from the snapshot's revision: %v %v", got, r)
	}
}

// The latest values of a whole-bucket watch come in revision order, one
// per key, whatever order the keys were written in (they are gathered
// from the key map, in no order, and sorted outside the lock).
func TestWatchStartLatestInRevisionOrder(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b"})
	const keys = 50
	for i := range keys {
		h.put(fmt.Sprintf("k%02d", i), "first")
	}
	for i := range keys {
		h.put(fmt.Sprintf("k%02d", (i*17)%keys), "second") // 17 is coprime to 50: every key once
	}
	_, got, rev, res := h.m.WatchStart("b", Filter{Pattern: ">"}, 0, StartLatest)
	if res != nil {
		t.Fatal(res)
	}
	if len(got) != keys || rev != 2*keys {
		t.Fatalf("%d initial values at revision %d, want %d at %d", len(got), rev, keys, 2*keys)
	}
	for i, e := range got {
		if string(e.GetValue()) != "second" || (i > 0 && e.GetRevision() <= got[i-1].GetRevision()) {
			t.Fatalf("initial value %d is %s=%s at revision %d after %d", i, e.GetKey(), e.GetValue(), e.GetRevision(), got[max(i-1, 0)].GetRevision())
		}
	}
}

// Keys answers in key order, whatever order the keys were written in, and
// only those after startAfter.
func TestKeysInOrder(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b"})
	const keys = 50
	for i := range keys {
		h.put(fmt.Sprintf("k%02d", (i*17)%keys), "v")
	}
	got, res := h.m.Keys("b", ">", "k09")
	if res != nil {
		t.Fatal(res)
	}
	if len(got) != keys-10 || !sort.StringsAreSorted(got) || got[0] != "k10" {
		t.Fatalf("Keys after k09 = %v, want k10..k49 in order", got)
	}
}

package lock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

func campaign(t *testing.T, sm *Machine, req, value string, wait, at int64) *Outcome {
	t.Helper()
	return apply(t, sm, OpAcquire, at, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: req, Keys: []string{"e"}, MaxWaitMs: wait, LeaseTtlMs: 1000, Value: []byte(value)})
}

// changes reads every change of key after rev, failing the test on a
// refusal.
func changes(t *testing.T, tb *Table, key string, after uint64) []*lockpb.LockHolderChange {
	t.Helper()
	got, _, r := tb.HolderChanges(key, after, 1000, nil)
	if r != nil {
		t.Fatalf("HolderChanges(%q, %d): %v", key, after, r)
	}
	return got
}

func describe(cs []*lockpb.LockHolderChange) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s:%s:%d ", strings.TrimPrefix(c.Type.String(), "LOCK_EVENT_TYPE_"), c.Value, c.FenceToken)
	}
	return strings.TrimSpace(b.String())
}

// Candidates queue FIFO with their values; each grant and each end is one
// change, numbered in apply order, and a handover is an end then a grant.
func TestHolderChangesFollowGrantsAndEndsInOrder(t *testing.T) {
	sm := New()
	a := mustGrant(t, campaign(t, sm, "a", "node-a", 0, 10))
	if string(a.Value) != "node-a" {
		t.Fatalf("grant value %q", a.Value)
	}
	wb := campaign(t, sm, "b", "node-b", 5000, 11)
	wc := campaign(t, sm, "c", "node-c", 5000, 12)
	if !wb.Waiting || !wc.Waiting {
		t.Fatal("b and c should wait")
	}
	in := sm.Inspect("e")
	if len(in.Holders) != 1 || string(in.Holders[0].Value) != "node-a" || in.HolderRevision != 1 {
		t.Fatalf("inspect: %v", in)
	}
	apply(t, sm, OpRelease, 13, &lockpb.LockServiceReleaseRequest{LeaseId: a.LeaseId, RequestId: "a"})
	b := sm.Status("b", wb.Attempt).Lease
	if b == nil || string(b.Value) != "node-b" {
		t.Fatalf("b after a resigned: %v", b)
	}
	sm.Tick(13 + 1000) // b's lease runs out; c takes over
	all := changes(t, sm.Table, "e", 0)
	if got, want := describe(all), "GRANTED:node-a:1 RELEASED:node-a:1 GRANTED:node-b:2 EXPIRED:node-b:2 GRANTED:node-c:3"; got != want {
		t.Fatalf("changes %q, want %q", got, want)
	}
	for i, c := range all {
		if c.Revision != uint64(i+1) {
			t.Fatalf("change %d has revision %d", i, c.Revision)
		}
	}
	if got := describe(changes(t, sm.Table, "e", 3)); got != "EXPIRED:node-b:2 GRANTED:node-c:3" {
		t.Fatalf("resume after 3: %q", got)
	}
	holders, rev := sm.HolderState("e")
	if rev != 5 || len(holders) != 1 || string(holders[0].Value) != "node-c" {
		t.Fatalf("state %v at %d", holders, rev)
	}
	if got := changes(t, sm.Table, "e", 5); len(got) != 0 {
		t.Fatalf("resume at the end: %v", got)
	}
	if _, _, r := sm.HolderChanges("e", 6, 10, nil); r.GetResultCode() != result.CodeInvalidArgument || !strings.Contains(r.GetMessage(), "after_revision") {
		t.Fatalf("resume past the end: %v", r)
	}
	// Another key's changes take revisions from the same counter and never
	// show up here.
	mustGrant(t, apply(t, sm, OpAcquire, 2000, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "x", Keys: []string{"other"}, LeaseTtlMs: 1000}))
	if got := changes(t, sm.Table, "e", 5); len(got) != 0 {
		t.Fatalf("e saw another key's change: %v", got)
	}
	if got := changes(t, sm.Table, "other", 5); len(got) != 1 || got[0].Revision != 6 {
		t.Fatalf("other: %v", got)
	}
}

// A key keeps its latest HistoryPerKey changes: a resume from before them
// is "compacted", naming the oldest resume point, never a silent gap.
func TestHolderChangesCompactedBeyondWhatIsKept(t *testing.T) {
	sm := New()
	for i := range HistoryPerKey {
		l := mustGrant(t, campaign(t, sm, fmt.Sprint(i), "v", 0, int64(10+i)))
		apply(t, sm, OpRelease, int64(10+i), &lockpb.LockServiceReleaseRequest{LeaseId: l.LeaseId, RequestId: fmt.Sprint(i)})
	}
	// 2*HistoryPerKey changes: the first HistoryPerKey are gone.
	_, _, r := sm.HolderChanges("e", 0, 10, nil)
	if r.GetResultCode() != result.CodeCompacted || !strings.Contains(r.GetMessage(), fmt.Sprintf("revision %d", HistoryPerKey)) {
		t.Fatalf("resume from 0: %v", r)
	}
	if got := changes(t, sm.Table, "e", HistoryPerKey); len(got) != HistoryPerKey || got[0].Revision != HistoryPerKey+1 {
		t.Fatalf("resume from the oldest kept point: %d changes", len(got))
	}
}

// When more keys change than are kept, the least recently changed key's
// record goes; its resume points before its last change are compacted,
// and a held key whose record went still resumes from its latest change.
func TestHolderChangesDropLeastRecentlyChangedKey(t *testing.T) {
	sm := New()
	held := mustGrant(t, apply(t, sm, OpAcquire, 1, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "held", Keys: []string{"quiet"}, LeaseTtlMs: 3_600_000}))
	_ = held
	for i := range HistoryMaxKeys {
		k := fmt.Sprint("k", i)
		l := mustGrant(t, apply(t, sm, OpAcquire, 2, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: k, Keys: []string{k}, LeaseTtlMs: 1000}))
		apply(t, sm, OpRelease, 2, &lockpb.LockServiceReleaseRequest{LeaseId: l.LeaseId, RequestId: k})
	}
	if _, ok := sm.hist.keys["quiet"]; ok {
		t.Fatal("the least recently changed key kept its record")
	}
	if got := changes(t, sm.Table, "quiet", 1); len(got) != 0 {
		t.Fatalf("quiet key resumed after its grant: %v", got)
	}
	if _, _, r := sm.HolderChanges("quiet", 0, 10, nil); r.GetResultCode() != result.CodeCompacted {
		t.Fatalf("quiet key from 0: %v", r)
	}
	if in := sm.Inspect("quiet"); in.HolderRevision != 1 {
		t.Fatalf("holder revision of the quiet key %d, want 1", in.HolderRevision)
	}
	if n := len(sm.hist.keys); n > HistoryMaxKeys {
		t.Fatalf("%d keys keep records", n)
	}
}

// The values and the history survive a snapshot and restore, which then
// goes on numbering exactly as the original; a version 1 snapshot (no
// values, no history) still restores.
func TestHolderHistorySurvivesSnapshotRestore(t *testing.T) {
	sm := New()
	a := mustGrant(t, campaign(t, sm, "a", "node-a", 0, 10))
	wb := campaign(t, sm, "b", "node-b", 5000, 11)
	write, _ := sm.Snapshot()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	sm2 := New()
	if err := sm2.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Machine{sm, sm2} {
		apply(t, m, OpRelease, 12, &lockpb.LockServiceReleaseRequest{LeaseId: a.LeaseId, RequestId: "a"})
	}
	if got, want := describe(changes(t, sm2.Table, "e", 0)), describe(changes(t, sm.Table, "e", 0)); got != want || want != "GRANTED:node-a:1 RELEASED:node-a:1 GRANTED:node-b:2" {
		t.Fatalf("restored %q, original %q", got, want)
	}
	if b := sm2.Status("b", wb.Attempt).Lease; b == nil || string(b.Value) != "node-b" {
		t.Fatalf("waiter's value lost in restore: %v", b)
	}
	var s1, s2 bytes.Buffer
	w1, _ := sm.Snapshot()
	w2, _ := sm2.Snapshot()
	_, _ = w1(&s1), w2(&s2)
	if !bytes.Equal(s1.Bytes(), s2.Bytes()) {
		t.Fatalf("diverged after restore:\n%s\n%s", s1.Bytes(), s2.Bytes())
	}

	var st map[string]any
	if err := json.Unmarshal(snapshotV2(t, sm.Table), &st); err != nil {
		t.Fatal(err)
	}
	st["v"] = 1
	delete(st, "holders")
	delete(st, "hrev")
	v1, _ := json.Marshal(st)
	sm3 := New()
	if err := sm3.Restore(bytes.NewReader(v1)); err != nil {
		t.Fatalf("version 1 snapshot: %v", err)
	}
	if in := sm3.Inspect("e"); len(in.Holders) != 1 {
		t.Fatalf("version 1 snapshot lost the holder: %v", in)
	}
	st["v"] = 99
	bad, _ := json.Marshal(st)
	if err := New().Restore(bytes.NewReader(bad)); err == nil {
		t.Fatal("unknown snapshot version accepted")
	}
}

// BenchmarkAcquireRelease is one grant and one release of a fresh key on
// the quorum table (with the holder history) and on a table without it
// (LOCAL scope's): the history's cost on the lock's apply path.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, withHistory := range []bool{false, true} {
		b.Run(fmt.Sprintf("history=%v", withHistory), func(b *testing.B) {
			tb := NewTable("", 0)
			if withHistory {
				tb = New().Table
			}
			keys := make([][]string, 4096)
			for i := range keys {
				keys[i] = []string{fmt.Sprint("key-", i)}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				o := tb.Acquire(AcquireRequest{RequestID: fmt.Sprint(i), Keys: keys[i%len(keys)], Mode: excl, TTLMs: 1000, Value: "node-a"}, int64(i))
				tb.Release(o.Lease.LeaseId, o.Lease.RequestId, int64(i))
			}
		})
	}
}

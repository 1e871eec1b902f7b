package lock

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckFenceEachRefusalHasItsOwnMessage(t *testing.T) {
	tb := NewTable("", 0)
	l := mustGrant(t, acq(t, tb, "a", excl, 0, 10, "k", "m")) // lease TTL 1000
	tok := l.Grants[0].FenceToken
	if cur, why := tb.CheckFence("k", tok, 20); why != "" || cur != tok {
		t.Fatalf("held token refused: %q (current %d)", why, cur)
	}
	if _, why := tb.CheckFence("m", l.Grants[1].FenceToken, 20); why != "" {
		t.Fatalf("second key of a multi-key lease refused: %q", why)
	}
	mustGrant(t, acq(t, tb, "s", shared, 0, 10, "r"))
	for _, c := range []struct {
		key  string
		tok  uint64
		at   int64
		want string
	}{
		{"k", tok + 1, 20, "was never granted"},
		{"nobody", 1, 20, "never granted, and the lock is not held"},
		{"r", 1, 20, "held shared"},
		{"k", tok, 1010, "has expired"}, // past expiry, before any tick
	} {
		cur, why := tb.CheckFence(c.key, c.tok, c.at)
		if !strings.Contains(why, c.want) {
			t.Errorf("CheckFence(%q, %d, %d) = %q, want it to say %q", c.key, c.tok, c.at, why, c.want)
		}
		if c.key == "k" && c.at < 1010 && cur != tok {
			t.Errorf("current %d, want %d", cur, tok)
		}
	}
	if o := tb.Release(l.LeaseId, "a", 30); o.Code != "" {
		t.Fatal(o)
	}
	if _, why := tb.CheckFence("k", tok, 31); !strings.Contains(why, "not held") {
		t.Fatalf("after release: %q", why)
	}
	l2 := mustGrant(t, acq(t, tb, "b", excl, 0, 40, "k"))
	cur, why := tb.CheckFence("k", tok, 41)
	if !strings.Contains(why, "stale") || cur != l2.Grants[0].FenceToken {
		t.Fatalf("old token under a new holder: %q (current %d, want %d)", why, cur, l2.Grants[0].FenceToken)
	}
}

// The fence check answers the same after a snapshot restore (a new
// follower, a restart from a snapshot): it reads only replicated state.
func TestCheckFenceAfterSnapshotRestore(t *testing.T) {
	sm := New()
	a := mustGrant(t, acq(t, sm.Table, "a", excl, 0, 10, "k"))
	if o := sm.Release(a.LeaseId, "a", 11); o.Code != "" {
		t.Fatal(o)
	}
	b := mustGrant(t, acq(t, sm.Table, "b", excl, 0, 12, "k"))
	write, err := sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	sm2 := New()
	if err := sm2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Machine{sm, sm2} {
		if cur, why := m.CheckFence("k", a.Grants[0].FenceToken, 13); why == "" || cur != b.Grants[0].FenceToken {
			t.Fatalf("stale token: %q (current %d)", why, cur)
		}
		if _, why := m.CheckFence("k", b.Grants[0].FenceToken, 13); why != "" {
			t.Fatalf("current token refused: %q", why)
		}
	}
}

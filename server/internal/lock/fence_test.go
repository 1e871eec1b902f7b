package lock

import (
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

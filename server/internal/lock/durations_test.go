package lock

import (
	"math"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// TestTableRefusesDurationsAboveCeiling: the table checks a lease TTL and a
// wait itself, so no caller can make a deadline wrap into the past.
func TestTableRefusesDurationsAboveCeiling(t *testing.T) {
	tb := NewTable("", 0)
	for _, d := range []int64{msec.MaxDuration + 1, math.MaxInt64, -1} {
		o := tb.Acquire(AcquireRequest{RequestID: "r", Keys: []string{"k"}, Mode: excl, MaxWaitMs: d, TTLMs: 1000}, 10)
		if o.Code != result.CodeInvalidArgument || !strings.HasPrefix(o.Message, "max_wait_ms: ") {
			t.Errorf("max_wait_ms %d: %+v", d, o)
		}
		o = tb.Acquire(AcquireRequest{RequestID: "r", Keys: []string{"k"}, Mode: excl, TTLMs: d}, 10)
		if o.Code != result.CodeInvalidArgument || !strings.HasPrefix(o.Message, "lease_ttl_ms: ") {
			t.Errorf("lease_ttl_ms %d: %+v", d, o)
		}
	}
	l := mustGrant(t, acq(t, tb, "r", excl, 0, 10, "k"))
	for _, d := range []int64{msec.MaxDuration + 1, math.MaxInt64} {
		if o := tb.Renew(l.GetLeaseId(), "r", d, 20); o.Code != result.CodeInvalidArgument {
			t.Errorf("renew %d: %+v", d, o)
		}
	}
	// The longest accepted TTL keeps the lease.
	if o := tb.Renew(l.GetLeaseId(), "r", msec.MaxDuration, 20); o.Code != "" || o.Lease.GetLeaseExpiresAtMs() != 20+msec.MaxDuration {
		t.Fatalf("renew to the ceiling: %+v", o)
	}
	tb.Tick(1_000_000)
	mustCode(t, acq(t, tb, "other", excl, 0, 1_000_000, "k"), result.CodeExpired)
}

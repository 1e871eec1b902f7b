package kv

import (
	"math"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// TestLongestTTLKeepsKeys: a bucket whose ttl_ms is the longest duration
// apply accepts keeps its keys; ttl_ms above it is refused on apply.
func TestLongestTTLKeepsKeys(t *testing.T) {
	h := newHarness(t, &kvpb.KVBucketConfig{Name: "b", TtlMs: msec.MaxDuration})
	h.now = 1_764_000_000_000
	h.put("k", "v")
	if d := h.m.NextDeadline(); d != 0 && d < h.now+1_000_000 {
		t.Fatalf("next deadline %d: the maximal ttl came due at once", d)
	}
	h.m.Tick(h.now + 1000)
	if _, r := h.m.Get("b", "k", 0); r != nil && !r.GetSuccess() {
		t.Fatalf("ttl_ms at its maximum expired the key: %v", r)
	}
	for _, ttl := range []int64{msec.MaxDuration + 1, math.MaxInt64, -1} {
		for _, op := range []uint16{OpCreateBucket, OpUpdateBucket} {
			var r resulter
			if op == OpCreateBucket {
				r = h.apply(op, &kvpb.KVServiceCreateBucketRequest{Config: &kvpb.KVBucketConfig{Name: "c", TtlMs: ttl}})
			} else {
				r = h.apply(op, &kvpb.KVServiceUpdateBucketRequest{Config: &kvpb.KVBucketConfig{Name: "b", History: 1, TtlMs: ttl}})
			}
			if r.GetResult().GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(r.GetResult().GetMessage(), "config.ttl_ms: ") {
				t.Errorf("op %d ttl %d: %v, want invalid_argument naming config.ttl_ms", op, ttl, r.GetResult())
			}
		}
	}
	if _, ok := h.m.Info("c"); ok {
		t.Fatal("a refused create made the bucket")
	}
}

package collections

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
)

// The API's bounds (api.Limits defaults): a MATCH pattern of at most
// MaxPatternLen bytes, a member of at most MaxValueSize bytes.
const (
	costPatternLen = 1024
	costMemberSize = 1 << 20
)

// worstPatterns are maximum-length patterns that make a backtracking
// matcher retry every position of a member of 'a's, or this matcher search
// the whole member for a long segment between two '*'s.
func worstPatterns() map[string]string {
	return map[string]string{
		"long literal":        "*" + strings.Repeat("a", costPatternLen-2) + "b",
		"many stars":          strings.Repeat("*a", costPatternLen/2-1) + "*b",
		"long class":          "*" + strings.Repeat("[a]", (costPatternLen-2)/3) + "b",
		"classes, ?, *":       "*" + strings.Repeat("?[^b]", (costPatternLen-2)/5) + "b",
		"long middle":         "*" + strings.Repeat("a", costPatternLen-3) + "b*",
		"long middle classes": "*" + strings.Repeat("[^b]", (costPatternLen-5)/4) + "[b]*",
		"short middles":       strings.Repeat("*a", (costPatternLen-10)/2) + "*aaaaaaab*",
	}
}

func costMachine(t testing.TB) *Machine {
	m := New()
	create(t, m, 0, &pb.CollectionsStoreConfig{Name: "s", Kind: &pb.CollectionsStoreConfig_Set{Set: &pb.SetStoreConfig{MaxMemberSize: costMemberSize}}})
	create(t, m, 0, hashCfg("other"))
	member := []byte(strings.Repeat("a", costMemberSize))
	r := apply[*pb.CollectionsServiceSAddResponse](t, m, OpSAdd, 1, &pb.CollectionsServiceSAddRequest{Store: "s", Key: "k", Members: [][]byte{member}})
	if r.GetAdded() != 1 {
		t.Fatalf("SADD: %v", r.GetResult())
	}
	return m
}

// timeScan answers the fastest of n scans of one page.
func timeScan(t testing.TB, m *Machine, pattern string, n int) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range n {
		start := time.Now()
		r := m.SScan(&pb.CollectionsServiceSScanRequest{Store: "s", Key: "k", Match: pattern})
		best = min(best, time.Since(start))
		if !r.GetResult().GetSuccess() || len(r.GetMembers()) != 0 {
			t.Fatalf("SSCAN %.20q...: %v, %d members", pattern, r.GetResult(), len(r.GetMembers()))
		}
	}
	return best
}

// An SSCAN with the largest pattern over the largest member costs about as
// much as one linear pass over the member, whatever the pattern.
func TestSScanCostBounded(t *testing.T) {
	m := costMachine(t)
	// The yardstick: a pattern every matcher decides in one pass.
	linear := timeScan(t, m, "*b*", 3)
	t.Logf("SSCAN of a %d-byte member, MATCH *b*: %v", costMemberSize, linear)
	for name, p := range worstPatterns() {
		d := timeScan(t, m, p, 3)
		t.Logf("SSCAN of a %d-byte member, %d-byte MATCH (%s): %v (%.1fx)", costMemberSize, len(p), name, d, float64(d)/float64(linear))
		// A quadratic matcher is about costPatternLen times the yardstick.
		if limit := 100*linear + 50*time.Millisecond; d > limit {
			t.Errorf("%s: SSCAN took %v, over %v (100x a linear pass + 50ms)", name, d, limit)
		}
	}
}

// A scan's matching does not hold the state lock: an HSET on another store
// while scans with the worst patterns run is not delayed beyond a generous
// multiple of its uncontended time. Latencies are compared at the 99th
// percentile, measured the same way in both phases, so that the machine
// descheduling the writer once (a loaded CI box) cannot fail the test; a
// scan holding the lock delays nearly every write by a whole scan.
func TestSScanDoesNotStallWrites(t *testing.T) {
	m := costMachine(t)
	i := 0
	hset := func() time.Duration {
		i++
		start := time.Now()
		apply[*pb.CollectionsServiceHSetResponse](t, m, OpHSet, 2, &pb.CollectionsServiceHSetRequest{Store: "other", Key: "k", Fields: map[string][]byte{"f": {byte(i)}}})
		return time.Since(start)
	}
	var uncontended []time.Duration
	for start := time.Now(); len(uncontended) < 1000 || time.Since(start) < 200*time.Millisecond; {
		uncontended = append(uncontended, hset())
	}

	patterns := worstPatterns()
	var scans atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, p := range patterns {
				select {
				case <-stop:
					return
				default:
				}
				m.SScan(&pb.CollectionsServiceSScanRequest{Store: "s", Key: "k", Match: p})
				scans.Add(1)
			}
		}
	}()
	var contended []time.Duration
	deadline := time.Now().Add(10 * time.Second)
	for (scans.Load() < int64(len(patterns)) || len(contended) < 100) && time.Now().Before(deadline) {
		contended = append(contended, hset())
	}
	close(stop)
	<-done

	u, c := p99(uncontended), p99(contended)
	limit := 20 * max(u, time.Millisecond)
	t.Logf("HSET p99 uncontended %v (max %v, %d writes); during %d scans %v (max %v, %d writes); limit %v",
		u, slices.Max(uncontended), len(uncontended), scans.Load(), c, slices.Max(contended), len(contended), limit)
	if c > limit {
		t.Fatalf("HSET p99 during scans %v, over %v (20x its uncontended %v, at least 1ms)", c, limit, u)
	}
	if scans.Load() < int64(len(patterns)) {
		t.Fatalf("only %d scans finished in 10s", scans.Load())
	}
}

func p99(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*99/100]
}

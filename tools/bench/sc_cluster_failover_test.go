package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The failover figure runs from the start of the kill to the first write
// that succeeds, however long the attempts before it hang.
func TestMeasureFailoverTimesFromKillToFirstSuccess(t *testing.T) {
	const outage = 150 * time.Millisecond
	var up atomic.Bool
	var recovered atomic.Int64 // unix nanos when writes were accepted again
	var inFlight, maxInFlight atomic.Int32
	kill := func() error {
		time.AfterFunc(outage, func() { recovered.Store(time.Now().UnixNano()); up.Store(true) })
		return nil
	}
	write := func(ctx context.Context) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		if up.Load() {
			return nil
		}
		<-ctx.Done() // a call held by a node without a leader, until its timeout
		return ctx.Err()
	}
	cfg := failoverConfig{every: 5 * time.Millisecond, attempt: time.Second, limit: 10 * time.Second}
	start := time.Now()
	d, err := measureFailover(context.Background(), kill, write, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d < outage {
		t.Fatalf("failover %s, shorter than the %s outage", d, outage)
	}
	// The first attempt after recovery succeeds at once; one attempt
	// interval and generous scheduling slack later at the latest. A
	// measurement that waited for the held attempts' timeouts (1 s) fails.
	if bound := time.Duration(recovered.Load()-start.UnixNano()) + 500*time.Millisecond; d > bound {
		t.Fatalf("failover %s, want at most %s (recovery plus slack)", d, bound)
	}
	if n := inFlight.Load(); n != 0 {
		t.Fatalf("%d attempts still running after measureFailover returned", n)
	}
	if maxInFlight.Load() < 2 {
		t.Fatalf("attempts did not overlap (at most %d in flight)", maxInFlight.Load())
	}
}

func TestMeasureFailoverGivesUpAtTheLimit(t *testing.T) {
	cfg := failoverConfig{every: 5 * time.Millisecond, attempt: 20 * time.Millisecond, limit: 100 * time.Millisecond}
	refused := errors.New("no leader")
	_, err := measureFailover(context.Background(), func() error { return nil }, func(context.Context) error { return refused }, cfg)
	if err == nil || !strings.Contains(err.Error(), "no leader") || !strings.Contains(err.Error(), "100ms") {
		t.Fatalf("err = %v, want the limit and the last write error", err)
	}
	_, err = measureFailover(context.Background(), func() error { return refused }, func(context.Context) error { return nil }, cfg)
	if !errors.Is(err, refused) {
		t.Fatalf("err = %v, want the kill's error", err)
	}
}

// The failover table shows median and worst per system, and a failed trial
// is listed and counted as a failure of the run.
func TestFailoverReport(t *testing.T) {
	r := &report{failover: []*failoverResult{
		{failoverSystem: failoverSystem{Name: "waymaker"}, Times: []time.Duration{300 * time.Millisecond, 900 * time.Millisecond, 400 * time.Millisecond}},
		{failoverSystem: failoverSystem{Name: "etcd"}, Times: []time.Duration{time.Second, 3 * time.Second}, Errs: []string{"start: boom"}},
	}}
	var b strings.Builder
	r.writeFailover(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) })
	md := b.String()
	for _, want := range []string{"| waymaker |", "| 3 | 400.00ms | 900.00ms |", "| etcd |", "| 3 | 2.00s | 3.00s |", "failed: start: boom"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if f := r.failures(); len(f) != 1 || !strings.Contains(f[0], "boom") {
		t.Fatalf("failures = %v, want the failed trial", f)
	}
}

// A waymaker failover trial end to end: three nodes with data dirs, the
// leader killed, and a write through the SDK succeeding afterwards on the
// two that remain.
func TestWaymakerFailoverTrial(t *testing.T) {
	ctx := context.Background()
	rig, err := wmFailoverRig(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer rig.stop()
	if err := rig.write(ctx); err != nil {
		t.Fatal(err)
	}
	kill, who, err := rig.leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err := measureFailover(ctx, kill, rig.write, defaultFailover)
	if err != nil {
		t.Fatalf("after killing %s: %v", who, err)
	}
	if d <= 0 || d > defaultFailover.limit {
		t.Fatalf("failover %s, want within (0, %s]", d, defaultFailover.limit)
	}
}

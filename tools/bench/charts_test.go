package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A report with tiny and widely spread figures (objects of 256 MiB next to
// in-memory calls) renders, charts included, without failing.
func TestReportRendersSpreadFigures(t *testing.T) {
	c := &Case{Group: "objects", Name: "put", Note: "n", Payloads: []int{1 << 20, 256 << 20}, Conc: []int{1, 4}, Bytes: true, PerOp: 2,
		Sides: []Side{{System: "waymaker", Label: "a", Peer: "b"}, {System: "nats", Label: "b"}}}
	res := &Result{Case: c, Points: c.grid(false), Samples: map[Point]map[string]*Sample{}}
	for i, pt := range res.Points {
		res.Samples[pt] = map[string]*Sample{
			"a": {Ops: 3, Rates: []float64{0.05 * float64(i+1)}, P50: time.Duration(i+1) * 3 * time.Second, P99: 4 * time.Second},
			"b": {Ops: 900, Rates: []float64{300 * float64(i+1)}, P50: 40 * time.Microsecond, P99: time.Millisecond},
		}
	}
	dir := t.TempDir()
	rep := &report{opts: options{rounds: 1, window: time.Millisecond}, command: "go run ./tools/bench", date: time.Now(), results: []*Result{res}, machine: describeMachine()}
	out := filepath.Join(dir, "BENCHMARKS.md")
	if err := rep.write(out, filepath.Join(dir, "docs", "bench")); err != nil {
		t.Fatal(err)
	}
	if f := rep.failures(); len(f) > 0 {
		t.Fatalf("failures: %v", f)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| [objects.put](#objectsput) | a | b |", "objects-put-1MiB.png", "messages/s", "MB/s"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "docs", "bench", "objects-put-1MiB.png")); err != nil {
		t.Fatal(err)
	}
}

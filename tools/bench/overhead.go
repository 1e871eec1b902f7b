package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The SDK's own overhead is measured by testing.B benchmarks in the SDK
// module's test-only package internal/overhead: each wrapper call against the
// same call through the raw generated stub on the same connection, served by
// a minimal in-test implementation. The harness runs them with go test and
// reads the figures back, so the report has them from the same run.

const (
	sdkModule = "git.awesomike.com/pub/waymaker-client/go"
	// overheadPkg is the benchmarks' package, relative to the SDK module.
	overheadPkg = "./internal/overhead/"
)

type overheadRow struct {
	Name                    string // e.g. "kv.Get"
	RawNs, WrapNs           float64
	RawAllocs, WrapAllocs   float64
	RawBytes, WrapBytes     float64
	RawSamples, WrapSamples int
}

func (r overheadRow) ExtraPct() float64    { return (r.WrapNs/r.RawNs - 1) * 100 }
func (r overheadRow) ExtraAllocs() float64 { return r.WrapAllocs - r.RawAllocs }

// AllocBudget is the most extra allocations the row's goal allows: 3 per
// call, and 5 for lock.Acquire+Unlock, two calls that also make the Lock
// handle (its request id, timer and grants).
func (r overheadRow) AllocBudget() float64 {
	if r.Name == "lock.Acquire+Unlock" {
		return 5
	}
	return 3
}

// MeetsGoals reports whether the row is under 5% extra time and within its
// allocation budget.
func (r overheadRow) MeetsGoals() bool { return r.ExtraPct() < 5 && r.ExtraAllocs() <= r.AllocBudget() }

var (
	benchLine  = regexp.MustCompile(`^BenchmarkOverhead/(\S+)/(raw|wrapper)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) B/op\s+([\d.]+) allocs/op)?`)
	pairedLine = regexp.MustCompile(`^BenchmarkOverheadPaired/(\S+?)(?:-\d+)?\s+\d+\s+.*?([\d.]+) raw-ns/op\s+([\d.]+) wrapper-ns/op`)
)

func runOverhead(ctx context.Context, quick bool, logf func(string, ...any)) ([]overheadRow, string, string) {
	dirOut, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", sdkModule).Output()
	if err != nil {
		return nil, "", "cannot locate the SDK module: " + err.Error()
	}
	dir := strings.TrimSpace(string(dirOut))
	// Allocations are exact, so BenchmarkOverhead (raw and wrapper apart)
	// runs once with a fixed count. Times come from BenchmarkOverheadPaired,
	// run several times with -count 1 rather than -count N (which repeats a
	// benchmark N times in a row), so runs alternate with the machine's drift.
	runs, paired, allocs := 5, "300ms", "2000x"
	if quick {
		runs, paired, allocs = 1, "50x", "50x"
	}
	type inv struct{ args []string }
	invs := []inv{{[]string{"test", "-run", "^$", "-bench", "^BenchmarkOverhead$", "-benchmem", "-count", "1", "-benchtime", allocs, overheadPkg}}}
	for range runs {
		invs = append(invs, inv{[]string{"test", "-run", "^$", "-bench", "^BenchmarkOverheadPaired$", "-count", "1", "-benchtime", paired, overheadPkg}})
	}
	cmdline := fmt.Sprintf("go test -run '^$' -bench '^BenchmarkOverhead$' -benchmem -benchtime %s %s once, then go test -run '^$' -bench '^BenchmarkOverheadPaired$' -benchtime %s %s %d times (in the repository root)", allocs, overheadPkg, paired, overheadPkg, runs)
	logf("SDK overhead: %s", cmdline)
	var out bytes.Buffer
	for _, in := range invs {
		cmd := exec.CommandContext(ctx, "go", in.args...)
		cmd.Dir = dir
		var one bytes.Buffer
		cmd.Stdout, cmd.Stderr = &one, &one
		if err := cmd.Run(); err != nil {
			return nil, cmdline, fmt.Sprintf("go test failed: %v\n%s", err, lastLines(one.String(), 30))
		}
		out.Write(one.Bytes())
	}
	type acc struct{ ns, allocs, bytes, paired []float64 }
	sums := map[string]*[2]acc{}
	sc := bufio.NewScanner(&out)
	get := func(name string) *[2]acc {
		a := sums[name]
		if a == nil {
			a = &[2]acc{}
			sums[name] = a
		}
		return a
	}
	for sc.Scan() {
		if m := pairedLine.FindStringSubmatch(sc.Text()); m != nil {
			a := get(m[1])
			raw, _ := strconv.ParseFloat(m[2], 64)
			wrapped, _ := strconv.ParseFloat(m[3], 64)
			a[0].paired = append(a[0].paired, raw)
			a[1].paired = append(a[1].paired, wrapped)
			continue
		}
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		a := get(m[1])
		k := 0
		if m[2] == "wrapper" {
			k = 1
		}
		ns, _ := strconv.ParseFloat(m[3], 64)
		b, _ := strconv.ParseFloat(m[4], 64)
		al, _ := strconv.ParseFloat(m[5], 64)
		a[k].ns = append(a[k].ns, ns)
		a[k].bytes = append(a[k].bytes, b)
		a[k].allocs = append(a[k].allocs, al)
	}
	var rows []overheadRow
	for name, a := range sums {
		if len(a[0].ns) == 0 || len(a[1].ns) == 0 || len(a[0].paired) == 0 {
			continue
		}
		rawNs, wrapNs := median(a[0].paired), median(a[1].paired)
		rows = append(rows, overheadRow{
			Name:  name,
			RawNs: rawNs, WrapNs: wrapNs,
			RawAllocs: median(a[0].allocs), WrapAllocs: median(a[1].allocs),
			RawBytes: median(a[0].bytes), WrapBytes: median(a[1].bytes),
			RawSamples: len(a[0].paired), WrapSamples: len(a[1].paired),
		})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	for _, r := range rows {
		logf("  %-28s raw %8.0f ns %4.0f allocs   wrapper %8.0f ns %4.0f allocs   %+5.1f%%  %+3.0f allocs", r.Name, r.RawNs, r.RawAllocs, r.WrapNs, r.WrapAllocs, r.ExtraPct(), r.ExtraAllocs())
	}
	if len(rows) == 0 {
		return nil, cmdline, "go test printed no BenchmarkOverhead pairs"
	}
	return rows, cmdline, ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Command bench measures waymaker against NATS, etcd and Redis on this
// machine, in one run, and writes BENCHMARKS.md with PNG charts.
//
//	go run ./tools/bench                 # everything; writes BENCHMARKS.md and docs/bench/
//	go run ./tools/bench --quick         # a smoke run in under a minute; writes nothing unless --out is given
//	go run ./tools/bench --addr host:8818  # waymaker side against a running server
//	go run ./tools/bench --only cluster  # three-node clusters (waymaker, etcd, NATS R3) and the failover table
//
// Every scenario is a Case (scenario.go) registered from a small sc_*.go
// file; each Side names the system it runs on, and systems start on first
// use (sys_*.go). Sides of one grid point take turns round by round, so
// drift of a shared machine falls on each alike. The report leads with
// ratios: absolute figures on a shared machine are context only.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

type options struct {
	addr     string
	quick    bool
	out      string
	only     string
	rounds   int
	window   time.Duration
	warmup   time.Duration
	overhead bool
	idle     int
	trials   int
	cpuprof  string
	memprof  string
}

func main() {
	if spec := os.Getenv(natsChildEnv); spec != "" { // a NATS node of a failover trial
		os.Exit(natsChild(spec))
	}
	var o options
	flag.StringVar(&o.addr, "addr", "", "waymaker server to measure (host:port); empty: embedded reference servers in this process")
	flag.BoolVar(&o.quick, "quick", false, "smoke run: one short round at one grid point per scenario, finishing in under a minute")
	flag.StringVar(&o.out, "out", "", "report path; charts go to docs/bench/ beside it (default BENCHMARKS.md; with --quick, nothing is written unless set)")
	flag.StringVar(&o.only, "only", "", "run only the scenarios whose group.name matches this regexp")
	flag.IntVar(&o.rounds, "rounds", 0, "rounds per grid point (default 5; --quick 1)")
	flag.DurationVar(&o.window, "window", 0, "measured time per side per round (default 250ms; --quick 40ms)")
	flag.DurationVar(&o.warmup, "warmup", 0, "unmeasured time per side before a grid point (default 100ms; --quick 10ms)")
	flag.BoolVar(&o.overhead, "overhead", true, "also run the SDK's wrapper-vs-raw testing.B benchmarks (go test in the SDK module)")
	flag.IntVar(&o.idle, "idle", 0, "items held for the memory-per-idle-item probes (default 10000; --quick 200)")
	flag.IntVar(&o.trials, "failover-trials", 0, "leader kills per system in cluster.failover, each on a fresh cluster (default 5; --quick 1)")
	flag.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile of the whole run to this file, for go tool pprof (the embedded servers run in this process, so it covers their side too; narrow it with --only)")
	flag.StringVar(&o.memprof, "memprofile", "", "write a heap profile of each idle probe, taken when its items are held, to this directory as GROUP.NAME.heap, and one taken before they open as GROUP.NAME.base.heap (go tool pprof -sample_index=inuse_space -diff_base)")
	flag.Parse()
	heapProfileDir = o.memprof
	if o.memprof != "" {
		runtime.MemProfileRate = 1024 // fine-grained: idle items are small
	}
	if o.trials == 0 {
		o.trials = pick(o.quick, 1, 5)
	}
	if o.rounds == 0 {
		o.rounds = pick(o.quick, 1, 5)
	}
	if o.window == 0 {
		o.window = time.Duration(pick(o.quick, 40, 250)) * time.Millisecond
	}
	if o.warmup == 0 {
		o.warmup = time.Duration(pick(o.quick, 10, 100)) * time.Millisecond
	}
	if o.idle == 0 {
		o.idle = pick(o.quick, 200, 10000)
	}
	if o.out == "" && !o.quick {
		o.out = "BENCHMARKS.md"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	stopProfile, err := startCPUProfile(o.cpuprof)
	if err == nil {
		err = run(ctx, o, os.Args[1:])
		if perr := stopProfile(); err == nil {
			err = perr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// startCPUProfile starts a CPU profile written to path (none when path is
// empty); stop ends it and closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

func pick(quick bool, q, full int) int {
	if quick {
		return q
	}
	return full
}

func run(ctx context.Context, o options, args []string) error {
	began := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%6.1fs  %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, a...))
	}
	var filter *regexp.Regexp
	if o.only != "" {
		var err error
		if filter, err = regexp.Compile(o.only); err != nil {
			return fmt.Errorf("--only: %w", err)
		}
	}
	env, err := newEnv(ctx, o.addr, o.quick, logf)
	if err != nil {
		return err
	}
	defer env.Close()

	rep := &report{
		opts:    o,
		command: commandLine(args),
		date:    began.UTC(),
		machine: describeMachine(),
	}
	rc := runConfig{rounds: o.rounds, window: o.window, warmup: o.warmup, quick: o.quick, logf: logf}
	for _, c := range sortedCases() {
		if filter != nil && !filter.MatchString(c.ID()) {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logf("%s", c.ID())
		rep.results = append(rep.results, runCase(ctx, env, c, rc))
	}
	for _, p := range probes {
		if filter != nil && !filter.MatchString(p.Group+"."+p.Name) {
			continue
		}
		rep.probes = append(rep.probes, runProbe(ctx, env, p, o.idle, logf))
	}
	if filter == nil || filter.MatchString("cluster.failover") {
		logf("cluster.failover")
		rep.failover = runFailover(ctx, env, o.trials, logf)
	}
	if o.overhead && filter == nil || o.overhead && filter != nil && filter.MatchString("overhead") {
		rep.overhead, rep.overheadCmd, rep.overheadErr = runOverhead(ctx, o.quick, logf)
	}
	if filter == nil || filter.MatchString("objmem") {
		rep.objmemCmd, rep.objmemTable, rep.objmemErr = runObjMem(ctx, o.quick, logf)
	}
	rep.systems = env.Systems()
	rep.took = time.Since(began)

	out, chartDir := o.out, ""
	if out == "" { // --quick without --out: render everything, keep nothing
		tmp, err := os.MkdirTemp("", "wmbench-report-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		out = filepath.Join(tmp, "BENCHMARKS.md")
	}
	chartDir = filepath.Join(filepath.Dir(out), "docs", "bench")
	if err := rep.write(out, chartDir); err != nil {
		return err
	}
	if o.out != "" {
		logf("wrote %s and charts in %s", out, chartDir)
	} else {
		logf("report rendered (not kept: --quick without --out)")
	}
	if failed := rep.failures(); len(failed) > 0 {
		for _, f := range failed {
			logf("FAILED %s", f)
		}
		return fmt.Errorf("%d scenario side(s) failed", len(failed))
	}
	logf("done in %s", time.Since(began).Round(time.Second))
	return nil
}

func commandLine(args []string) string {
	parts := []string{"go run ./tools/bench"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func runProbe(ctx context.Context, env *Env, p *Probe, n int, logf func(string, ...any)) *probeResult {
	r := &probeResult{Probe: p, N: n}
	if why := env.unavailable(p.System); why != "" {
		r.Skipped = why
		return r
	}
	heapProfileName = p.Group + "." + p.Name
	v, err := p.Run(ctx, env, n)
	if err != nil {
		r.Err = err.Error()
		logf("  %s.%s: %s", p.Group, p.Name, r.Err)
		return r
	}
	r.Value = v
	logf("  %s.%s: %.0f %s per item over %d", p.Group, p.Name, v, p.Unit, n)
	return r
}

type probeResult struct {
	*Probe
	N       int
	Value   float64
	Err     string
	Skipped string
}

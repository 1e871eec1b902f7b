package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Sample is what one side measured at one grid point, over every round.
type Sample struct {
	Ops      int64         // operations completed over all rounds
	Rates    []float64     // ops/s of each round
	P50, P99 time.Duration // over every operation of every round
	Err      string        // the first failure, when the side failed
	Skipped  string        // why the side did not run
}

// Rate is the median of the rounds' throughputs.
func (s *Sample) Rate() float64 { return median(s.Rates) }

// Result holds every side's Sample at every grid point of a Case.
type Result struct {
	Case   *Case
	Points []Point
	// Samples[point][side label]
	Samples map[Point]map[string]*Sample
}

type runConfig struct {
	rounds int           // rounds per grid point; sides alternate within a round
	window time.Duration // measured time per side per round
	warmup time.Duration // unmeasured time per side before its first round
	quick  bool
	logf   func(format string, args ...any)
}

// runCase measures every side of c at every grid point. Within a point the
// sides take turns round by round, and the order of the turns rotates, so
// that drift of the shared machine falls on every side alike.
func runCase(ctx context.Context, env *Env, c *Case, rc runConfig) *Result {
	res := &Result{Case: c, Points: c.grid(rc.quick), Samples: map[Point]map[string]*Sample{}}
	for _, pt := range res.Points {
		samples := map[string]*Sample{}
		res.Samples[pt] = samples
		type live struct {
			side    Side
			op      Op
			cleanup func()
			lat     []time.Duration
		}
		var sides []*live
		for _, sd := range c.Sides {
			s := &Sample{}
			samples[sd.Label] = s
			if why := env.unavailable(sd.System); why != "" {
				s.Skipped = why
				continue
			}
			op, cleanup, err := sd.Setup(ctx, env, pt)
			if err != nil {
				s.Err = "setup: " + err.Error()
				rc.logf("  %s %s %s: %s", c.ID(), pointString(c, pt), sd.Label, s.Err)
				continue
			}
			l := &live{side: sd, op: op, cleanup: cleanup}
			if rc.warmup > 0 {
				if _, _, err := measure(ctx, op, c.workers(pt), rc.warmup, nil); err != nil {
					s.Err = err.Error()
				}
			}
			sides = append(sides, l)
		}
		for r := 0; r < rc.rounds; r++ {
			for k := range sides {
				l := sides[(k+r)%len(sides)]
				s := samples[l.side.Label]
				if s.Err != "" {
					continue
				}
				n, el, err := measure(ctx, l.op, c.workers(pt), rc.window, &l.lat)
				if err != nil {
					s.Err = err.Error()
					rc.logf("  %s %s %s: %s", c.ID(), pointString(c, pt), l.side.Label, s.Err)
					continue
				}
				s.Ops += n
				if n > 0 {
					s.Rates = append(s.Rates, float64(n)/el.Seconds())
				}
			}
		}
		for _, l := range sides {
			s := samples[l.side.Label]
			s.P50, s.P99 = percentiles(l.lat)
			if l.cleanup != nil {
				l.cleanup()
			}
			if s.Err == "" {
				rc.logf("  %-28s %-16s %-30s %10.1f ops/s  p50 %8s  p99 %8s", c.ID(), pointString(c, pt), l.side.Label, s.Rate(), fmtDur(s.P50), fmtDur(s.P99))
			}
		}
	}
	return res
}

// errExhausted, returned by an Op, ends the window early without failing:
// the work prepared in Setup (messages to consume) ran out. A window that
// found nothing left does not count as a round.
var errExhausted = errors.New("prepared work exhausted")

// measure runs op from conc workers for window and returns the number of
// operations, the elapsed time, and the first error. Each operation's
// latency is appended to *lat when lat is not nil.
func measure(ctx context.Context, op Op, conc int, window time.Duration, lat *[]time.Duration) (int64, time.Duration, error) {
	var stop atomic.Bool
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		total    int64
	)
	per := make([][]time.Duration, conc)
	start := time.Now()
	timer := time.AfterFunc(window, func() { stop.Store(true) })
	defer timer.Stop()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			l := make([]time.Duration, 0, 1024)
			i := 0
			for !stop.Load() {
				t0 := time.Now()
				if err := op(ctx, w, i); err != nil {
					if errors.Is(err, errExhausted) {
						stop.Store(true) // prepared work ran out: end the window here
						break
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("worker %d op %d: %w", w, i, err)
					}
					mu.Unlock()
					stop.Store(true)
					break
				}
				l = append(l, time.Since(t0))
				i++
			}
			per[w] = l
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, l := range per {
		total += int64(len(l))
		if lat != nil {
			*lat = append(*lat, l...)
		}
	}
	return total, elapsed, firstErr
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	at := func(q float64) time.Duration {
		i := int(q * float64(len(lat)-1))
		return lat[i]
	}
	return at(0.50), at(0.99)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pointString(c *Case, pt Point) string {
	conc := fmt.Sprintf("c=%d", pt.Conc)
	if c.FanOut != "" {
		conc = fmt.Sprintf("%s=%d", c.FanOut, pt.Conc)
	}
	if len(c.Payloads) == 0 {
		return conc
	}
	return conc + " " + fmtBytes(pt.Payload)
}

// workers is how many goroutines run the operation at pt.
func (c *Case) workers(pt Point) int {
	if c.FanOut != "" {
		return 1
	}
	return pt.Conc
}

func fmtBytes(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

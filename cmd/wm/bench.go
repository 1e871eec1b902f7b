package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

type benchJSON struct {
	Bench    string  `json:"bench"`
	Clients  int     `json:"clients"`
	Ops      int64   `json:"ops"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	OpsPerS  float64 `json:"ops_per_second"`
	P50Ms    float64 `json:"p50_ms"`
	P90Ms    float64 `json:"p90_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	FirstErr string  `json:"first_error,omitempty"`
}

// benchOp does one operation; i counts the worker's operations.
type benchOp func(ctx context.Context, worker, i int) error

func (a *app) benchCmd() *cobra.Command {
	var ops, clients, size int
	var duration time.Duration
	mk := func(name, short string, setup func(ctx context.Context, c clientT, id string, payload []byte) (benchOp, func(context.Context), error)) *cobra.Command {
		return &cobra.Command{
			Use: name, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if ops < 1 || clients < 1 || size < 0 || duration < 0 {
					return usagef("--ops and --clients must be at least 1, --size and --duration not negative")
				}
				ctx := cmd.Context()
				c, err := a.connect(ctx)
				if err != nil {
					return err
				}
				id := benchID()
				payload := make([]byte, size)
				_, _ = rand.Read(payload)
				op, cleanup, err := setup(ctx, c, id, payload)
				if err != nil {
					return err
				}
				defer func() {
					cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
					defer cancel()
					cleanup(cctx)
				}()
				res := a.runBench(ctx, name, op, ops, clients, duration)
				return a.emit(res, func(w io.Writer) {
					fmt.Fprintf(w, "%s: %d ops by %d clients in %.2fs: %.0f ops/s; latency p50 %.3fms p90 %.3fms p99 %.3fms max %.3fms",
						res.Bench, res.Ops, res.Clients, res.Seconds, res.OpsPerS, res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs)
					if res.Errors > 0 {
						fmt.Fprintf(w, "; %d errors, the first: %s", res.Errors, res.FirstErr)
					}
					fmt.Fprintln(w)
				})
			},
		}
	}
	kvB := mk("kv", "KV puts of --size bytes to a bucket made for the run", func(ctx context.Context, c clientT, id string, payload []byte) (benchOp, func(context.Context), error) {
		name := "wm-bench-" + id
		b, err := c.KeyValue().Create(ctx, kv.Config{Name: name})
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, w, i int) error {
				_, err := b.Put(ctx, fmt.Sprintf("k%d.%d", w, i%1000), payload)
				return err
			}, func(ctx context.Context) {
				_ = c.KeyValue().Delete(ctx, name)
			}, nil
	})
	streamB := mk("stream", "stream publishes of --size bytes to a stream made for the run", func(ctx context.Context, c clientT, id string, payload []byte) (benchOp, func(context.Context), error) {
		name := "wm-bench-" + id
		s, err := c.Streams().Create(ctx, stream.Config{Name: name, Subjects: []string{name + ".>"}})
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, w, _ int) error {
				_, err := s.Publish(ctx, fmt.Sprintf("%s.%d", name, w), payload)
				return err
			}, func(ctx context.Context) {
				_ = c.Streams().Delete(ctx, name)
			}, nil
	})
	lockB := mk("lock", "uncontended lock acquire and release pairs, one key per client", func(ctx context.Context, c clientT, id string, _ []byte) (benchOp, func(context.Context), error) {
		return func(ctx context.Context, w, _ int) error {
			l, err := c.Locks().Acquire(ctx, fmt.Sprintf("wm-bench-%s-%d", id, w), lock.Config{})
			if err != nil {
				return err
			}
			return l.Unlock(ctx)
		}, func(context.Context) {}, nil
	})
	cmd := group("bench", "quick load generators: ops/s and latency percentiles", kvB, streamB, lockB)
	f := cmd.PersistentFlags()
	f.IntVar(&ops, "ops", 10000, "operations in all, shared by the clients")
	f.IntVar(&clients, "clients", 4, "concurrent workers over the one connection")
	f.IntVar(&size, "size", 128, "payload bytes (kv, stream)")
	f.DurationVar(&duration, "duration", 0, "stop after this long even if --ops are not done (0: no bound)")
	return cmd
}

func benchID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *app) runBench(ctx context.Context, name string, op benchOp, ops, clients int, duration time.Duration) benchJSON {
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	var next, done, failed atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				if next.Add(1) > int64(ops) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				err := op(ctx, w, i)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
				done.Add(1)
			}
		})
	}
	stopLive := a.liveLine(name, &done, int64(ops), start)
	wg.Wait()
	stopLive()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	r := benchJSON{Bench: name, Clients: clients, Ops: done.Load(), Errors: failed.Load(), Seconds: elapsed.Seconds(),
		P50Ms: pct(0.50), P90Ms: pct(0.90), P99Ms: pct(0.99), MaxMs: pct(1)}
	if elapsed > 0 {
		r.OpsPerS = float64(r.Ops) / elapsed.Seconds()
	}
	if s, ok := firstErr.Load().(string); ok {
		r.FirstErr = oneLine(s)
	}
	return r
}

// liveLine redraws a progress line on stderr every 250 ms while a bench
// runs, when stderr is a terminal. The returned func stops it and clears it.
func (a *app) liveLine(name string, done *atomic.Int64, total int64, start time.Time) func() {
	if !isTerminal(a.stderr) {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(a.stderr, "\r\033[K")
				return
			case <-t.C:
				n := done.Load()
				fmt.Fprintf(a.stderr, "\r\033[K%s: %d/%d ops, %.0f ops/s", name, n, total, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	return func() { close(stop); <-finished }
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// Memory per idle item: n items are opened and held at once, and the live
// heap plus goroutine stacks are compared before and after (each after two
// full GCs). Against the embedded server the figure covers client and
// server together, since both live in this process; with --addr it is the
// client's alone.

func registerProbe(p *Probe) { probes = append(probes, p) }

// heapProfileDir (--memprofile) is where perItem writes heap profiles
// before the items open (NAME.base.heap) and while they are held
// (NAME.heap), NAME being heapProfileName (the running probe); compare them
// with go tool pprof -diff_base.
var heapProfileDir, heapProfileName string

func writeHeapProfile(suffix string) error {
	if heapProfileDir == "" {
		return nil
	}
	if err := os.MkdirAll(heapProfileDir, 0o755); err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	f, err := os.Create(filepath.Join(heapProfileDir, heapProfileName+suffix))
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("--memprofile: %w", err)
	}
	return f.Close()
}

func liveBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// perItem opens n items (16 at a time: opening is a round trip each),
// waits settle for what the items set up in the background after they
// open, measures, then closes them all.
func perItem(n int, settle time.Duration, open func(i int) (close func(), err error)) (float64, error) {
	base := runtime.NumGoroutine()
	before := liveBytes()
	if err := writeHeapProfile(".base.heap"); err != nil {
		return 0, err
	}
	closers := make([]func(), n)
	defer func() {
		for _, c := range closers {
			if c != nil {
				c()
			}
		}
		// Closed items wind down asynchronously (stream handlers on both
		// sides); let them, so the next probe starts from a quiet heap.
		for deadline := time.Now().Add(30 * time.Second); runtime.NumGoroutine() > base && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := open(i)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("item %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
				closers[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	time.Sleep(settle)
	after := liveBytes()
	if err := writeHeapProfile(".heap"); err != nil {
		return 0, err
	}
	if after < before {
		return 0, nil
	}
	return float64(after-before) / float64(n), nil
}

func init() {
	registerProbe(&Probe{
		Group: "kv", Name: "idle-watcher", Unit: "bytes", System: "waymaker",
		Note: "one Watch (updates only) per key on its own key, nothing written; client and embedded server together",
		Run: func(ctx context.Context, env *Env, n int) (float64, error) {
			b, cleanup, err := wmBucket(ctx, env)
			if err != nil {
				return 0, err
			}
			defer cleanup()
			return perItem(n, 0, func(i int) (func(), error) {
				w, err := b.Watch(ctx, fmt.Sprintf("idle.%d", i), kv.UpdatesOnly())
				if err != nil {
					return nil, err
				}
				return w.Stop, nil
			})
		},
	})
}

func init() {
	registerProbe(&Probe{
		Group: "streams", Name: "idle-consumer", Unit: "bytes", System: "waymaker",
		Note: "one durable consumer with push delivery open (Consumer.Messages) on an empty stream; client and embedded server together",
		Run: func(ctx context.Context, env *Env, n int) (float64, error) {
			s, _, cleanup, err := wmStream(ctx, env, memWM)
			if err != nil {
				return 0, err
			}
			defer cleanup()
			return perItem(n, 0, func(i int) (func(), error) {
				c, err := s.CreateConsumer(ctx, stream.ConsumerConfig{DurableName: fmt.Sprintf("idle%d", i), AckPolicy: stream.AckExplicit})
				if err != nil {
					return nil, err
				}
				it, err := c.Messages(ctx)
				if err != nil {
					return nil, err
				}
				return it.Stop, nil
			})
		},
	})
}

func init() {
	registerProbe(&Probe{
		Group: "locks", Name: "idle-lock-with-renewal", Unit: "bytes", System: "waymaker",
		Note: "one held *Lock (quorum scope, TTL 30 s, its event stream open) with SpawnRenewal every 15 s, each on its own key; client and embedded server together",
		Run: func(ctx context.Context, env *Env, n int) (float64, error) {
			c := env.WM.c.Locks()
			prefix := env.uniq("idle")
			// A Lock opens its event stream 200ms after the grant (a
			// quarter of the TTL, at most 200ms): wait that out, with
			// margin, so that every lock is measured with its stream open.
			return perItem(n, time.Second, func(i int) (func(), error) {
				l, err := c.Acquire(ctx, fmt.Sprintf("%s/%d", prefix, i), lock.Config{LeaseTTL: 30 * time.Second})
				if err != nil {
					return nil, err
				}
				r := l.SpawnRenewal(15 * time.Second)
				if err := r.Err(); err != nil {
					return nil, err
				}
				return func() {
					r.Stop()
					_ = l.Unlock(context.Background())
				}, nil
			})
		},
	})
}

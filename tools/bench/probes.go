package main

import (
	"context"
	"fmt"
	"runtime"

	"git.awesomike.com/pub/waymaker-client/go/kv"
)

// Memory per idle item: n items are opened and held at once, and the live
// heap plus goroutine stacks are compared before and after (each after two
// full GCs). Against the embedded server the figure covers client and
// server together, since both live in this process; with --addr it is the
// client's alone.

func registerProbe(p *Probe) { probes = append(probes, p) }

func liveBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// perItem opens n items with open, measures, then closes them all.
func perItem(n int, open func(i int) (close func(), err error)) (float64, error) {
	before := liveBytes()
	closers := make([]func(), 0, n)
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for i := range n {
		c, err := open(i)
		if err != nil {
			return 0, fmt.Errorf("item %d: %w", i, err)
		}
		closers = append(closers, c)
	}
	after := liveBytes()
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
			return perItem(n, func(i int) (func(), error) {
				w, err := b.Watch(ctx, fmt.Sprintf("idle.%d", i), kv.UpdatesOnly())
				if err != nil {
					return nil, err
				}
				return w.Stop, nil
			})
		},
	})
}

package raftnode

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// gatedJournal is a journal whose Apply waits until open is closed, so a
// test can hold a log replay at its first entry for as long as it needs.
type gatedJournal struct {
	*journal
	open chan struct{}
}

func (g *gatedJournal) Apply(c fsm.Command) any {
	<-g.open
	return g.journal.Apply(c)
}

// logWatch observes logs and wakes a waiter on every line.
type logWatch struct {
	logs *observer.ObservedLogs
	line chan struct{}
}

func newLogWatch() (*zap.Logger, *logWatch) {
	core, logs := observer.New(zapcore.InfoLevel)
	w := &logWatch{logs: logs, line: make(chan struct{}, 1)}
	hooked := zapcore.RegisterHooks(core, func(zapcore.Entry) error {
		select {
		case w.line <- struct{}{}:
		default:
		}
		return nil
	})
	return zap.New(hooked), w
}

// await returns the first line with message msg for which ok holds,
// waiting for new lines until the deadline.
func (w *logWatch) await(t *testing.T, msg string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		for _, e := range w.logs.FilterMessage(msg).All() {
			if m := e.ContextMap(); ok(m) {
				return m
			}
		}
		select {
		case <-w.line:
		case <-deadline:
			t.Fatalf("no %q line as wanted within 20s; lines: %v", msg, w.logs.All())
		}
	}
}

// A restart replays the log after leadership, however long that takes: it
// is not bounded by StartTimeout, and Start logs the progress while it runs
// and the total at the end.
func TestReplayIsUnboundedAndLogsProgress(t *testing.T) {
	dir := t.TempDir()
	const entries = 300
	n1, _ := startNode(t, Config{DataDir: dir})
	proposeN(t, n1, 0, entries)
	if err := n1.Shutdown(); err != nil {
		t.Fatal(err)
	}

	log, watch := newLogWatch()
	f := fsm.New(log)
	g := &gatedJournal{journal: &journal{}, open: make(chan struct{})}
	if err := f.Register(g); err != nil {
		t.Fatal(err)
	}
	const startTimeout = time.Second
	n2, err := New(Config{DataDir: dir, Logger: log, StartTimeout: startTimeout, ProgressInterval: 10 * time.Millisecond}, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n2.Shutdown() })
	var once sync.Once
	release := func() { once.Do(func() { close(g.open) }) }
	t.Cleanup(release)
	started := make(chan error, 1)
	go func() { started <- n2.Start(context.Background()) }()

	// Held at its first entry, the replay reports progress until it has
	// run for longer than StartTimeout, and Start still waits.
	num := func(m map[string]any, k string) int64 {
		v, _ := m[k].(uint64)
		return int64(v)
	}
	first := watch.await(t, "replaying the raft log", func(map[string]any) bool { return true })
	if got := num(first, "entries"); got < entries {
		t.Fatalf("replay announced %d entries, want at least %d: %v", got, entries, first)
	}
	watch.await(t, "replaying the raft log", func(m map[string]any) bool {
		d, _ := m["elapsed"].(time.Duration)
		return d > startTimeout
	})
	select {
	case err := <-started:
		t.Fatalf("Start returned (%v) while the replay was held", err)
	default:
	}
	release()
	if err := <-started; err != nil {
		t.Fatalf("Start after a replay longer than StartTimeout: %v", err)
	}
	end := watch.await(t, "raft log replayed", func(map[string]any) bool { return true })
	if num(end, "replayed") != num(first, "entries") || num(end, "entries") != num(first, "entries") {
		t.Fatalf("end of replay %v does not match its start %v", end, first)
	}
	if got, _, _ := g.snapshot(); len(got) != entries || got[entries-1] != fmt.Sprintf("e%d", entries-1) {
		t.Fatalf("after replay: %d entries", len(got))
	}
}

// Shutdown ends a Start that is still replaying.
func TestShutdownEndsReplay(t *testing.T) {
	dir := t.TempDir()
	n1, _ := startNode(t, Config{DataDir: dir})
	proposeN(t, n1, 0, 10)
	if err := n1.Shutdown(); err != nil {
		t.Fatal(err)
	}
	log, watch := newLogWatch()
	f := fsm.New(log)
	g := &gatedJournal{journal: &journal{}, open: make(chan struct{})}
	if err := f.Register(g); err != nil {
		t.Fatal(err)
	}
	n2, err := New(Config{DataDir: dir, Logger: log}, f)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() { started <- n2.Start(context.Background()) }()
	watch.await(t, "replaying the raft log", func(map[string]any) bool { return true })
	stopped := make(chan error, 1)
	go func() { stopped <- n2.Shutdown() }()
	if err := <-started; err == nil {
		t.Fatal("Start succeeded though Shutdown was called during the replay")
	}
	close(g.open) // raft's shutdown waits for the FSM's current Apply
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// gate is a subsystem whose op 2 blocks apply until released, so a test
// can hold proposals behind it; op 1 counts and answers the count.
type gate struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	n       int
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) Name() string { return "gate" }
func (g *gate) Apply(c fsm.Command) any {
	if c.Op == 2 {
		close(g.entered)
		<-g.release
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return g.n
}
func (g *gate) Tick(int64)          {}
func (g *gate) NextDeadline() int64 { return 0 }
func (g *gate) Snapshot() (func(io.Writer) error, error) {
	return func(io.Writer) error { return nil }, nil
}
func (g *gate) Restore(io.Reader) error { return nil }

func startGated(t *testing.T, cfg Config) (*Node, *gate) {
	t.Helper()
	cfg.Logger = zaptest.NewLogger(t)
	f := fsm.New(cfg.Logger)
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	if err := f.Register(g); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.open() // a failed test must not leave apply blocked: Shutdown waits for it
		_ = n.Shutdown()
	})
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n, g
}

// holdApply proposes gate op 2 and returns once apply is blocked in it;
// the caller closes g.release to go on. done yields that proposal's error.
func holdApply(t *testing.T, n *Node, g *gate) (done chan error) {
	t.Helper()
	done = make(chan error, 1)
	go func() {
		_, err := n.Propose(context.Background(), "gate", 2, nil)
		done <- err
	}()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the gate proposal was never applied")
	}
	return done
}

// waitFor polls cond on a ticker until it holds, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (n *Node) queued() int {
	n.commit.mu.Lock()
	defer n.commit.mu.Unlock()
	return len(n.commit.queue)
}

// Proposals that arrive while an entry is being applied travel together:
// 32 concurrent proposals held behind one slow apply take a handful of
// raft entries, not 32, and each caller still gets its own answer.
func TestConcurrentProposalsAreCommittedInGroups(t *testing.T) {
	for _, cfg := range []Config{{}, {DataDir: t.TempDir()}} {
		t.Run(fmt.Sprintf("data_dir=%t", cfg.DataDir != ""), func(t *testing.T) {
			n, g := startGated(t, cfg)
			held := holdApply(t, n, g)
			cmds0, entries0 := n.CommitCounts()
			const N = 32
			answers := make(chan int, N)
			errs := make(chan error, N)
			for range N {
				go func() {
					res, err := n.Propose(context.Background(), "gate", 1, []byte("x"))
					if err != nil {
						errs <- err
						return
					}
					answers <- res.(int)
				}()
			}
			// Every proposal is queued or proposed before the gate opens.
			waitFor(t, "all proposals to queue", func() bool {
				c, _ := n.CommitCounts()
				return int(c-cmds0)+n.queued() == N
			})
			g.open()
			if err := <-held; err != nil {
				t.Fatal(err)
			}
			var got []int
			for range N {
				select {
				case a := <-answers:
					got = append(got, a)
				case err := <-errs:
					t.Fatal(err)
				}
			}
			slices.Sort(got)
			for i, a := range got {
				if a != i+1 {
					t.Fatalf("answers %v, want 1..%d each once", got, N)
				}
			}
			cmds, entries := n.CommitCounts()
			cmds, entries = cmds-cmds0, entries-entries0
			// While the gate holds apply, the committer proposes at most
			// maxInflight+1 more entries before it waits; everything else
			// queues and goes in one entry once the gate opens.
			if cmds != N || entries > maxInflight+3 {
				t.Fatalf("%d commands in %d entries, want %d in at most %d", cmds, entries, N, maxInflight+3)
			}
		})
	}
}

// A waiting proposal costs its caller's goroutine and nothing more.
func TestWaitingProposalsStartNoGoroutines(t *testing.T) {
	n, g := startGated(t, Config{})
	held := holdApply(t, n, g)
	const N = 100
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for range N {
		wg.Go(func() {
			if _, err := n.Propose(context.Background(), "gate", 1, nil); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "all proposals to queue", func() bool {
		c, _ := n.CommitCounts()
		return int(c)+n.queued() >= N+1 // the held gate proposal too
	})
	if extra := runtime.NumGoroutine() - before; extra > N+4 {
		t.Errorf("%d waiting proposals run %d goroutines, want about %d (one each, the callers)", N, extra, N)
	}
	g.open()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// A caller whose context ends while its proposal waits gets ctx.Err() at
// once; a proposal cancelled before it left the queue is never applied.
func TestCancelledProposalReturnsAtOnce(t *testing.T) {
	n, g := startGated(t, Config{})
	held := holdApply(t, n, g)
	// Fill what the committer can have in flight behind the gate: once
	// it has proposed maxInflight+1 entries after the gate's, it waits,
	// and a new proposal stays queued.
	c0, e0 := n.CommitCounts()
	var wg sync.WaitGroup
	proposed := 0
	for {
		if _, e := n.CommitCounts(); e-e0 >= maxInflight+1 {
			break
		}
		proposed++
		wg.Go(func() {
			if _, err := n.Propose(context.Background(), "gate", 1, nil); err != nil {
				t.Error(err)
			}
		})
		waitFor(t, "the committer to take the proposal or wait", func() bool {
			c, e := n.CommitCounts()
			return int(c) >= proposed+1 || e-e0 >= maxInflight+1
		})
	}
	// The committer is now held, but the last proposal started may still be
	// on its way to the queue (the loop can end on the entry count a
	// proposal before it made): wait until every proposal started is either
	// taken (counted in the commands) or queued.
	waitFor(t, "every started proposal to be taken or queued", func() bool {
		c, _ := n.CommitCounts()
		return n.queued() == proposed-int(c-c0)
	})
	before := n.queued()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := n.Propose(ctx, "gate", 1, nil)
		errc <- err
	}()
	waitFor(t, "the proposal to queue", func() bool { return n.queued() == before+1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled proposal: %v", err)
	}
	g.open()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	// Every proposal but the cancelled one applied.
	res, err := n.Propose(context.Background(), "gate", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := proposed + 1; res != want {
		t.Fatalf("count %v after the others, want %d: the cancelled proposal was applied", res, want)
	}
}

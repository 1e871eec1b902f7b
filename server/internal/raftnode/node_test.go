package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir, os.Getenv(crashChildTagEnv)) // never returns: the test kills it
	}
	goleak.VerifyTestMain(m)
}

// journal records applied payloads and has one settable deadline.
type journal struct {
	mu       sync.Mutex
	entries  []string
	ticks    []int64
	deadline int64
	restored int // entries seen by the last non-empty Restore
	rearms   []int64
}

func (j *journal) Rearm(at int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.rearms = append(j.rearms, at)
}

func (j *journal) rearmCount() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.rearms)
}

func (j *journal) Name() string { return "journal" }

func (j *journal) Apply(c fsm.Command) any {
	j.mu.Lock()
	defer j.mu.Unlock()
	if c.Op != 1 {
		return fmt.Errorf("journal: unknown op %d", c.Op)
	}
	j.entries = append(j.entries, string(c.Payload))
	return len(j.entries)
}

func (j *journal) Tick(at int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ticks = append(j.ticks, at)
	if j.deadline != 0 && j.deadline <= at {
		j.deadline = 0
	}
}

func (j *journal) NextDeadline() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.deadline
}

func (j *journal) setDeadline(d int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.deadline = d
}

func (j *journal) Snapshot() (func(io.Writer) error, error) {
	j.mu.Lock()
	data := strings.Join(j.entries, "\n")
	j.mu.Unlock()
	return func(w io.Writer) error { _, err := io.WriteString(w, data); return err }, nil
}

func (j *journal) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = nil
	if len(b) > 0 {
		j.entries = strings.Split(string(b), "\n")
		j.restored = len(j.entries)
	}
	return nil
}

func (j *journal) snapshot() (entries []string, ticks []int64, restored int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries), slices.Clone(j.ticks), j.restored
}

func startNode(t testing.TB, cfg Config) (*Node, *journal) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t)
	}
	f := fsm.New(cfg.Logger)
	j := &journal{}
	if err := f.Register(j); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n, j
}

func proposeN(t *testing.T, n *Node, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		res, err := n.Propose(context.Background(), "journal", 1, fmt.Appendf(nil, "e%d", i))
		if err != nil {
			t.Fatalf("propose %d: %v", i, err)
		}
		if _, ok := res.(int); !ok {
			t.Fatalf("propose %d: result %T", i, res)
		}
	}
}

func TestProposeInMemory(t *testing.T) {
	n, j := startNode(t, Config{})
	if !n.IsLeader() {
		t.Fatal("single node does not lead after Start")
	}
	res, err := n.Propose(context.Background(), "journal", 1, []byte("a"))
	if err != nil || res != 1 {
		t.Fatalf("Propose = %v, %v", res, err)
	}
	// A subsystem's error result comes back as Propose's error.
	if _, err := n.Propose(context.Background(), "journal", 9, nil); err == nil || !strings.Contains(err.Error(), "unknown op 9") {
		t.Fatalf("error result: %v", err)
	}
	if _, err := n.Propose(context.Background(), "nope", 1, nil); !errors.Is(err, fsm.ErrUnknownSubsystem) {
		t.Fatalf("unknown subsystem: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Propose(ctx, "journal", 1, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	if got, _, _ := j.snapshot(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("journal = %q", got)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(context.Background(), "journal", 1, nil); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("after Shutdown: %v", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestProposeBeforeStart(t *testing.T) {
	n, err := New(Config{}, fsm.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if _, err := n.Propose(context.Background(), "x", 1, nil); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("err = %v", err)
	}
}

// Restarting on the same DataDir re-applies every committed entry, both from
// a snapshot and from the log after it.
func TestRestartKeepsDataAcrossSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, SnapshotThreshold: 4, SnapshotInterval: 10 * time.Millisecond}

	n, _ := startNode(t, cfg)
	proposeN(t, n, 0, 20)
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	proposeN(t, n, 20, 30) // after the snapshot: must come back from the log
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}

	n2, j2 := startNode(t, cfg)
	got, _, restored := j2.snapshot()
	if restored < 20 {
		t.Fatalf("restart restored %d entries from a snapshot, want >= 20", restored)
	}
	if len(got) != 30 || got[0] != "e0" || got[29] != "e29" {
		t.Fatalf("after restart: %d entries %q", len(got), got)
	}
	proposeN(t, n2, 30, 31)
}

func TestSecondNodeOnSameDataDirFails(t *testing.T) {
	dir := t.TempDir()
	startNode(t, Config{DataDir: dir})
	if _, err := New(Config{DataDir: dir}, fsm.New(nil)); err == nil {
		t.Fatal("a second node opened a DataDir in use")
	}
}

// The ticker must propose only when a deadline is due: an idle server writes
// nothing, and a due deadline is expired promptly.
func TestTickerProposesOnlyWhenDue(t *testing.T) {
	checks := make(chan bool, 1024)
	n, j := startNode(t, Config{TickInterval: 5 * time.Millisecond, onTickCheck: func(due bool) {
		select {
		case checks <- due:
		default:
		}
	}})
	waitChecks := func(k int, wantDue bool) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for i := 0; i < k; i++ {
			select {
			case due := <-checks:
				if due != wantDue {
					t.Fatalf("check %d: due = %v, want %v", i, due, wantDue)
				}
			case <-timeout:
				t.Fatalf("only %d ticker checks within 10s", i)
			}
		}
	}

	waitChecks(5, false) // nothing pending
	j.setDeadline(time.Now().Add(time.Hour).UnixMilli())
	drain(checks)
	waitChecks(5, false) // pending but not due
	if _, ticks, _ := j.snapshot(); len(ticks) != 0 {
		t.Fatalf("ticks proposed while nothing was due: %v", ticks)
	}

	due := time.Now().UnixMilli() - 1
	j.setDeadline(due)
	// The first check after this sees it due; later ones must not.
	timeout := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case seen = <-checks:
		case <-timeout:
			t.Fatal("due deadline never ticked")
		}
	}
	_, ticks, _ := j.snapshot()
	if len(ticks) != 1 || ticks[0] < due {
		t.Fatalf("ticks = %v, want one at >= %d", ticks, due)
	}
	waitChecks(5, false)
	if _, ticks, _ := j.snapshot(); len(ticks) != 1 {
		t.Fatalf("ticks after expiry = %v", ticks)
	}
	_ = n
}

func drain(c chan bool) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

package raftnode

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// The crash test re-runs this test binary as a server process; these
// variables tell TestMain to be that process.
const (
	crashChildEnv    = "RAFTNODE_CRASH_CHILD_DIR"
	crashChildTagEnv = "RAFTNODE_CRASH_CHILD_TAG"
)

// stallingJournal is a journal whose snapshots after the first one in a
// process never finish writing: the process is killed while raft's
// snapshot folder is still <id>.tmp, as a kill during a large snapshot does.
type stallingJournal struct {
	*journal
	mu      sync.Mutex
	taken   int
	stalled chan struct{} // closed when a snapshot writer has stalled
}

func (s *stallingJournal) Snapshot() (func(io.Writer) error, error) {
	write, err := s.journal.Snapshot()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.taken++
	stall := s.taken > 1
	s.mu.Unlock()
	if !stall {
		return write, nil
	}
	return func(w io.Writer) error {
		if err := write(w); err != nil {
			return err
		}
		close(s.stalled)
		select {} // the rest of a snapshot that outlives the process
	}, nil
}

// crashChild is the server process of TestKilledSnapshotLeavesNoFolders: it
// proposes entries tagged tag until a snapshot has stalled mid-write, prints
// "acked N" (N entries are committed and durable), and waits to be killed.
func crashChild(dir, tag string) {
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(2)
	}
	f := fsm.New(nil)
	j := &stallingJournal{journal: &journal{}, stalled: make(chan struct{})}
	if err := f.Register(j); err != nil {
		fail(err)
	}
	n, err := New(Config{DataDir: dir, SnapshotThreshold: 8, SnapshotInterval: 5 * time.Millisecond}, f)
	if err != nil {
		fail(err)
	}
	if err := n.Start(context.Background()); err != nil {
		fail(err)
	}
	acked := 0
	// Bounded, so that an orphaned process ends by itself.
	for stalled := false; !stalled && acked < 100_000; {
		if _, err := n.Propose(context.Background(), "journal", 1, fmt.Appendf(nil, "%s-%d", tag, acked)); err != nil {
			fail(err)
		}
		acked++
		select {
		case <-j.stalled:
			stalled = true
		default:
		}
	}
	fmt.Println("acked", acked)
	<-time.After(time.Minute) // killed long before, unless orphaned
	os.Exit(3)
}

// runCrashChild runs one server process on dir, waits until it has a
// snapshot stalled mid-write, kills it with SIGKILL, and returns how many
// entries it acknowledged.
func runCrashChild(t *testing.T, dir, tag string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashChildTagEnv+"="+tag)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	kill := func() {
		_ = cmd.Process.Kill() // SIGKILL: nothing in the child runs after it
		for range lines {
		}
		_ = cmd.Wait()
	}
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		kill()
		t.Fatal("the server process did not reach a stalled snapshot within 30s")
	}
	acked, err := strconv.Atoi(strings.TrimPrefix(line, "acked "))
	if err != nil {
		kill()
		t.Fatalf("server process said %q", line)
	}
	if tmp := snapshotTmpDirs(t, dir); len(tmp) != 1 {
		kill()
		t.Fatalf("before the kill: %d snapshot folders in progress (%v), want 1", len(tmp), tmp)
	}
	kill()
	return acked
}

func snapshotTmpDirs(t *testing.T, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "snapshots", "*"+snapshotTmpSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return matches
}

// A server killed while writing a snapshot leaves raft's <id>.tmp folder
// behind; the next start removes it (and says so), keeps every
// acknowledged entry, and still has the completed snapshot to restore from.
func TestKilledSnapshotLeavesNoFolders(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for _, tag := range []string{"first", "second"} {
		n := runCrashChild(t, dir, tag)
		for i := range n {
			want = append(want, fmt.Sprintf("%s-%d", tag, i))
		}
	}
	// The second process removed the first one's folder; the second kill
	// left its own, which this start must remove.
	core, logs := observer.New(zapcore.InfoLevel)
	_, j := startNode(t, Config{DataDir: dir, Logger: zap.New(core)})

	if tmp := snapshotTmpDirs(t, dir); len(tmp) != 0 {
		t.Fatalf("after restart: abandoned snapshot folders remain: %v", tmp)
	}
	removed := logs.FilterMessage("removed a snapshot folder left by an interrupted snapshot").All()
	if len(removed) != 1 || removed[0].ContextMap()["bytes"].(int64) <= 0 {
		t.Fatalf("removal log lines = %v, want one with a size", removed)
	}
	got, _, restored := j.snapshot()
	if restored == 0 {
		t.Fatal("restart restored nothing from a snapshot; the completed snapshot is gone")
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after restart: %d entries %q\nwant %d entries %q", len(got), got, len(want), want)
	}
	complete, err := filepath.Glob(filepath.Join(dir, "snapshots", "*", "meta.json"))
	if err != nil || len(complete) == 0 {
		t.Fatalf("no complete snapshot left: %v %v", complete, err)
	}
}

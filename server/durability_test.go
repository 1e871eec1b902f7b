package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// The durability proof: a child process runs a durable server and reports
// each command the server acknowledged; the parent kills it with SIGKILL
// mid-stream, restarts it on the same DataDir, and checks that every
// acknowledged command is still there, including those that only survive
// through a snapshot.

const (
	childEnv     = "WAYMAKER_DURABILITY_CHILD" // set: this process is the child
	childDirEnv  = "WAYMAKER_DURABILITY_DIR"
	childFromEnv = "WAYMAKER_DURABILITY_FROM" // first sequence number to propose
)

// ledger is the test-only subsystem: it records every payload in apply
// order and snapshots them as lines.
type ledger struct {
	mu       sync.Mutex
	entries  []string
	restored int // entries read by the last non-empty Restore
}

func (l *ledger) Name() string { return "ledger" }

func (l *ledger) Apply(c fsm.Command) any {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.Op != 1 {
		return fmt.Errorf("ledger: unknown op %d", c.Op)
	}
	l.entries = append(l.entries, string(c.Payload))
	return len(l.entries)
}

func (l *ledger) Tick(int64)          {}
func (l *ledger) NextDeadline() int64 { return 0 }

func (l *ledger) Snapshot() (func(io.Writer) error, error) {
	l.mu.Lock()
	entries := slices.Clone(l.entries)
	l.mu.Unlock()
	return func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		for _, e := range entries {
			bw.WriteString(e)
			bw.WriteByte('\n')
		}
		return bw.Flush()
	}, nil
}

func (l *ledger) Restore(r io.Reader) error {
	var entries []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		entries = append(entries, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = entries
	if len(entries) > 0 {
		l.restored = len(entries)
	}
	return nil
}

// durabilityChild is the child's main. Protocol on stdout, one per line:
//
//	RESTORED n   entries recovered from a snapshot at start
//	HAVE x       one per entry present after start
//	READY        start is complete
//	ACK x        the server acknowledged proposing x
//	SNAPSHOT     an explicit snapshot completed
//
// It proposes until killed.
func durabilityChild() int {
	from, err := strconv.Atoi(os.Getenv(childFromEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	led := &ledger{}
	s, err := New(Config{
		DataDir:           os.Getenv(childDirEnv),
		SnapshotThreshold: 16,
		SnapshotInterval:  10 * time.Millisecond,
		extraSubsystems:   []fsm.Subsystem{led},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	led.mu.Lock()
	fmt.Fprintf(out, "RESTORED %d\n", led.restored)
	for _, e := range led.entries {
		fmt.Fprintf(out, "HAVE %s\n", e)
	}
	led.mu.Unlock()
	fmt.Fprintln(out, "READY")
	out.Flush()

	// Bounded so that an orphaned child ends by itself.
	for i := from; i < from+200_000; i++ {
		if _, err := s.node.Propose(context.Background(), "ledger", 1, []byte(strconv.Itoa(i))); err != nil {
			fmt.Fprintln(os.Stderr, "child: propose:", err)
			return 1
		}
		// Printed only after Propose returned: an ACK line is a promise.
		fmt.Fprintf(out, "ACK %d\n", i)
		out.Flush()
		if i == from+50 {
			if err := s.node.Snapshot(); err != nil {
				fmt.Fprintln(os.Stderr, "child: snapshot:", err)
				return 1
			}
			fmt.Fprintln(out, "SNAPSHOT")
			out.Flush()
		}
	}
	s.Stop()
	return 0
}

type child struct {
	cmd   *exec.Cmd
	lines chan string
}

func startChild(t *testing.T, dir string, from int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childDirEnv+"="+dir, childFromEnv+"="+strconv.Itoa(from))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { c.kill() })
	return c
}

// next returns the next line, failing the test at the deadline or if the
// child exits.
func (c *child) next(t *testing.T, deadline <-chan time.Time) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatal("child exited early (see its stderr)")
		}
		return l
	case <-deadline:
		t.Fatal("child did not report in time")
	}
	return ""
}

// kill sends SIGKILL and returns the lines the child wrote before dying.
func (c *child) kill() []string {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	var rest []string
	for l := range c.lines {
		rest = append(rest, l)
	}
	_ = c.cmd.Wait()
	return rest
}

func TestKill9KeepsEveryAcknowledgedCommand(t *testing.T) {
	dir := t.TempDir()
	acked := map[string]bool{}
	const rounds, perRound = 3, 200

	for round := 0; round <= rounds; round++ {
		deadline := time.After(60 * time.Second)
		c := startChild(t, dir, round*1_000_000)

		// Recovery check: everything acknowledged in earlier rounds is back,
		// in order, exactly once.
		var restored int
		have := map[string]bool{}
		var order []int
		for l := c.next(t, deadline); l != "READY"; l = c.next(t, deadline) {
			switch f := strings.Fields(l); f[0] {
			case "RESTORED":
				restored, _ = strconv.Atoi(f[1])
			case "HAVE":
				if have[f[1]] {
					t.Fatalf("round %d: %s recovered twice", round, f[1])
				}
				have[f[1]] = true
				n, _ := strconv.Atoi(f[1])
				order = append(order, n)
			}
		}
		if !slices.IsSorted(order) {
			t.Fatalf("round %d: recovered entries out of order", round)
		}
		for x := range acked {
			if !have[x] {
				t.Fatalf("round %d: acknowledged command %s lost by kill -9", round, x)
			}
		}
		if round > 0 && restored == 0 {
			t.Fatalf("round %d: restart did not restore from a snapshot", round)
		}
		t.Logf("round %d: %d acknowledged, %d recovered (%d via snapshot)", round, len(acked), len(have), restored)
		if round == rounds {
			c.kill()
			break
		}

		// Let the child run past its explicit snapshot and on, then kill it
		// mid-stream, with proposals in flight.
		n, snapped := 0, false
		for n < perRound || !snapped {
			l := c.next(t, deadline)
			if l == "SNAPSHOT" {
				snapped = true
			} else if x, ok := strings.CutPrefix(l, "ACK "); ok {
				acked[x] = true
				n++
			}
		}
		for _, l := range c.kill() {
			if x, ok := strings.CutPrefix(l, "ACK "); ok {
				acked[x] = true
			}
		}
	}
}

package fsm

import (
	"errors"
	"io"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// oneLock is a Fencer holding lock "k" with token tok (0: not held).
type oneLock struct{ tok uint64 }

func (l *oneLock) Name() string        { return "locks" }
func (l *oneLock) Apply(Command) any   { return nil }
func (l *oneLock) Tick(int64)          {}
func (l *oneLock) NextDeadline() int64 { return 0 }
func (l *oneLock) Snapshot() (func(io.Writer) error, error) {
	return func(io.Writer) error { return nil }, nil
}
func (l *oneLock) Restore(io.Reader) error { return nil }
func (l *oneLock) CheckFence(key string, token uint64, _ int64) (uint64, string) {
	if key == "k" && l.tok != 0 && token == l.tok {
		return l.tok, ""
	}
	return l.tok, "not the holder"
}

func newFencedFSM(t *testing.T) (*FSM, *counter, *oneLock) {
	t.Helper()
	f, c := newCounterFSM(t, DedupConfig{})
	l := &oneLock{tok: 5}
	if err := f.Register(l); err != nil {
		t.Fatal(err)
	}
	return f, c, l
}

func wantFenced(t *testing.T, res any, current string) {
	t.Helper()
	r, ok := res.(*commonpb.Result)
	if !ok || r.GetSuccess() || r.GetResultCode() != result.CodeFenced || !strings.Contains(r.GetMessage(), "current token "+current) {
		t.Fatalf("answer %T %v, want a fenced Result naming current token %s", res, res, current)
	}
}

func TestFencedCommandAppliesOnlyWithTheHeldToken(t *testing.T) {
	f, c, _ := newFencedFSM(t)
	cmd := Command{Subsystem: "counter", Op: 1, AtMs: 1, Fence: Fence{Key: "k", Token: 5}}
	if n := count(t, f.ApplyCommand(cmd)); n != 1 {
		t.Fatalf("fenced increment with the held token: count %d, want 1", n)
	}
	before, err := f.StateDigest()
	if err != nil {
		t.Fatal(err)
	}
	for _, fence := range []Fence{{Key: "k", Token: 4}, {Key: "k", Token: 6}, {Key: "other", Token: 5}} {
		cmd.Fence = fence
		wantFenced(t, f.ApplyCommand(cmd), "5")
	}
	after, err := f.StateDigest()
	if err != nil {
		t.Fatal(err)
	}
	if before != after || c.n != 1 {
		t.Fatalf("a refused command changed state (count %d)", c.n)
	}
}

func TestFencedRefusalIsRememberedAndAppliedAnswerOutlivesTheLock(t *testing.T) {
	f, c, l := newFencedFSM(t)
	// Applied under the fence, then the lock moves on: a retry of the same
	// id gets the first answer, not a refusal.
	ok := Command{Subsystem: "counter", Op: 1, AtMs: 1, RequestID: "a", Fence: Fence{Key: "k", Token: 5}}
	if n := count(t, f.ApplyCommand(ok)); n != 1 {
		t.Fatalf("count %d", n)
	}
	l.tok = 6
	if n := count(t, f.ApplyCommand(ok)); n != 1 || c.n != 1 {
		t.Fatalf("retry after the lock moved on: count %d (state %d), want the first answer 1", n, c.n)
	}
	// Refused, then (hypothetically) the token passes: the retry of the
	// refused id keeps its answer, the refusal.
	stale := Command{Subsystem: "counter", Op: 1, AtMs: 2, RequestID: "b", Fence: Fence{Key: "k", Token: 5}}
	wantFenced(t, f.ApplyCommand(stale), "6")
	l.tok = 5
	wantFenced(t, f.ApplyCommand(stale), "6")
	if c.n != 1 {
		t.Fatalf("count %d after refusals, want 1", c.n)
	}
	// The same id under another fence is another request.
	other := stale
	other.Fence.Token = 6
	if err, ok := f.ApplyCommand(other).(error); !ok || !errors.Is(err, ErrRequestIDReused) {
		t.Fatalf("same id, other fence: %v, want ErrRequestIDReused", err)
	}
}

func TestFenceWithoutALockTableIsRefused(t *testing.T) {
	f, c := newCounterFSM(t, DedupConfig{})
	wantFenced(t, f.ApplyCommand(Command{Subsystem: "counter", Op: 1, AtMs: 1, Fence: Fence{Key: "k", Token: 1}}), "0")
	if c.n != 0 {
		t.Fatalf("applied without a lock table")
	}
}

// BenchmarkApplyFenced is what a fence adds to one command on the FSM's
// side: encoding and decoding it and the check (here a fake lock table;
// the real one's check is a map lookup under its mutex).
func BenchmarkApplyFenced(b *testing.B) {
	for _, fence := range []Fence{{}, {Key: "leader", Token: 5}} {
		name := "plain"
		if fence.Key != "" {
			name = "fenced"
		}
		b.Run(name, func(b *testing.B) {
			f := New(nil)
			if err := f.Register(&counter{}); err != nil {
				b.Fatal(err)
			}
			if err := f.Register(&oneLock{tok: 5}); err != nil {
				b.Fatal(err)
			}
			cmd := Command{Subsystem: "counter", Op: 1, Fence: fence, Payload: make([]byte, 160)}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				cmd.AtMs = int64(i)
				data, err := cmd.Marshal()
				if err != nil {
					b.Fatal(err)
				}
				c, err := Unmarshal(data)
				if err != nil {
					b.Fatal(err)
				}
				f.ApplyCommand(c)
			}
		})
	}
}

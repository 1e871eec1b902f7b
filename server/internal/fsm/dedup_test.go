package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"
)

// counter counts applied commands and answers the count as a proto
// message, as real subsystems answer; op 3 answers an fsm.Retry (a pop of
// nothing).
type counter struct{ n uint64 }

func (c *counter) Name() string { return "counter" }
func (c *counter) Apply(cmd Command) any {
	switch cmd.Op {
	case 1:
		c.n++
		return wrapperspb.UInt64(c.n)
	case 3:
		return Retry{Response: wrapperspb.UInt64(0)}
	}
	return fmt.Errorf("counter: unknown op %d", cmd.Op)
}
func (c *counter) Tick(int64)          {}
func (c *counter) NextDeadline() int64 { return 0 }
func (c *counter) Snapshot() (func(io.Writer) error, error) {
	n := c.n
	return func(w io.Writer) error { _, err := fmt.Fprint(w, n); return err }, nil
}
func (c *counter) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil || len(b) == 0 {
		c.n = 0
		return err
	}
	_, err = fmt.Sscan(string(b), &c.n)
	return err
}

func newCounterFSM(t *testing.T, cfg DedupConfig) (*FSM, *counter) {
	t.Helper()
	f := NewWithDedup(nil, cfg)
	c := &counter{}
	if err := f.Register(c); err != nil {
		t.Fatal(err)
	}
	return f, c
}

func count(t *testing.T, res any) uint64 {
	t.Helper()
	v, ok := res.(*wrapperspb.UInt64Value)
	if !ok {
		t.Fatalf("result %T %v, want a count", res, res)
	}
	return v.GetValue()
}

func inc(id string, at int64) Command {
	return Command{Subsystem: "counter", Op: 1, AtMs: at, RequestID: id, Payload: []byte("same")}
}

func TestRetryOfRequestIDAnswersFirstAnswer(t *testing.T) {
	f, c := newCounterFSM(t, DedupConfig{})
	if n := count(t, f.ApplyCommand(inc("r1", 10))); n != 1 {
		t.Fatalf("first apply answered %d", n)
	}
	f.ApplyCommand(inc("r2", 11))
	f.ApplyCommand(inc("", 12)) // no id: applied every time
	f.ApplyCommand(inc("", 13))
	res := f.ApplyCommand(inc("r1", 14))
	if n := count(t, res); n != 1 {
		t.Fatalf("retry of r1 answered %d, want the first answer 1", n)
	}
	if c.n != 4 {
		t.Fatalf("applied %d commands, want 4: a retry must not apply", c.n)
	}
	// The answer is a copy: changing it changes nothing remembered.
	res.(*wrapperspb.UInt64Value).Value = 99
	if n := count(t, f.ApplyCommand(inc("r1", 15))); n != 1 {
		t.Fatalf("remembered answer changed to %d", n)
	}
	// The same id in another subsystem's namespace is another id.
	if got, ok := f.Remembered("other", "r1"); ok {
		t.Fatalf("r1 remembered for another subsystem: %v", got)
	}
	if got, ok := f.Remembered("counter", "r1"); !ok || count(t, got) != 1 {
		t.Fatalf("Remembered(counter, r1) = %v, %v", got, ok)
	}
}

func TestRequestIDReusedForAnotherRequestIsRefused(t *testing.T) {
	f, c := newCounterFSM(t, DedupConfig{})
	f.ApplyCommand(inc("r1", 10))
	other := inc("r1", 11)
	other.Payload = []byte("different")
	if res := f.ApplyCommand(other); !errors.Is(res.(error), ErrRequestIDReused) {
		t.Fatalf("reuse answered %v, want ErrRequestIDReused", res)
	}
	otherOp := inc("r1", 12)
	otherOp.Op = 3
	if res, ok := f.ApplyCommand(otherOp).(error); !ok || !errors.Is(res, ErrRequestIDReused) {
		t.Fatalf("reuse with another op answered %v", res)
	}
	if c.n != 1 {
		t.Fatalf("a refused reuse applied: count %d", c.n)
	}
}

func TestRetryAnswerIsNotRemembered(t *testing.T) {
	f, c := newCounterFSM(t, DedupConfig{})
	pop := Command{Subsystem: "counter", Op: 3, AtMs: 1, RequestID: "p"}
	if n := count(t, f.ApplyCommand(pop)); n != 0 {
		t.Fatalf("pop answered %d", n)
	}
	if _, ok := f.Remembered("counter", "p"); ok {
		t.Fatal("an fsm.Retry answer was remembered")
	}
	pop.RequestID = ""
	if n := count(t, f.ApplyCommand(pop)); n != 0 { // unwrapped without an id too
		t.Fatalf("pop without id answered %d", n)
	}
	_ = c
}

func TestRequestIDWindowAndBounds(t *testing.T) {
	f, c := newCounterFSM(t, DedupConfig{WindowMs: 1000, MaxEntries: 3})
	f.ApplyCommand(inc("a", 0))
	f.ApplyCommand(inc("b", 500))
	// Within the window: remembered.
	if n := count(t, f.ApplyCommand(inc("a", 999))); n != 1 {
		t.Fatalf("a within the window answered %d", n)
	}
	// Past it (by the commands' own clock): applied again.
	if n := count(t, f.ApplyCommand(inc("a", 1001))); n != 3 {
		t.Fatalf("a past the window answered %d, want a new apply (3)", n)
	}
	// A tick expires too.
	f.ApplyCommand(TickCommand(1600))
	if _, ok := f.Remembered("counter", "b"); ok {
		t.Fatal("b outlived its window through a tick")
	}
	// MaxEntries: the oldest goes first.
	for i := range 4 {
		f.ApplyCommand(inc(fmt.Sprint("n", i), 1700))
	}
	if got := f.dedup.Len(); got != 3 {
		t.Fatalf("remembered %d answers, bound 3", got)
	}
	if _, ok := f.Remembered("counter", "n0"); ok {
		t.Fatal("the oldest answer survived the count bound")
	}
	if _, ok := f.Remembered("counter", "n3"); !ok {
		t.Fatal("the newest answer was dropped")
	}
	_ = c

	// MaxBytes bounds memory the same way.
	g, _ := newCounterFSM(t, DedupConfig{MaxBytes: 3 * (entrySize + 40)})
	for i := range 10 {
		g.ApplyCommand(inc(fmt.Sprint("id", i), 1))
	}
	if n := g.dedup.Len(); n < 1 || n > 3 {
		t.Fatalf("remembered %d answers under a 3-entry byte bound", n)
	}
}

func TestRequestIDsSurviveSnapshotRestore(t *testing.T) {
	src, _ := newCounterFSM(t, DedupConfig{})
	for i := range 100 {
		src.ApplyCommand(inc(fmt.Sprint("r", i), int64(i)))
	}
	snap := snapshotBytes(t, src)
	dst, c := newCounterFSM(t, DedupConfig{})
	dst.ApplyCommand(inc("stale", 1))
	if err := dst.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if n := count(t, dst.ApplyCommand(inc("r41", 200))); n != 42 {
		t.Fatalf("retry of r41 after restore answered %d, want 42", n)
	}
	if c.n != 100 {
		t.Fatalf("restored count %d, and a remembered retry applied?", c.n)
	}
	if _, ok := dst.Remembered("counter", "stale"); ok {
		t.Fatal("restore kept an answer the snapshot does not hold")
	}
	// A snapshot without the frame (written before request ids) restores
	// to nothing remembered.
	old, _ := newCounterFSM(t, DedupConfig{})
	old.ApplyCommand(inc("x", 1))
	plain := &fsmSnapshot{parts: []snapPart{{name: "counter", write: func(w io.Writer) error { _, err := io.WriteString(w, "5"); return err }}}}
	var buf bytes.Buffer
	if err := plain.writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := old.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if old.dedup.Len() != 0 {
		t.Fatal("an old snapshot left answers remembered")
	}
}

func TestCommandWithRequestIDRoundTrips(t *testing.T) {
	c := Command{Subsystem: "kv", Op: 7, AtMs: -3, RequestID: "abc-1", Payload: []byte{1, 2}}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil || got.Subsystem != "kv" || got.Op != 7 || got.AtMs != -3 || got.RequestID != "abc-1" || !bytes.Equal(got.Payload, []byte{1, 2}) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	// Without an id the layout is version 1, as written by older servers.
	c.RequestID = ""
	b, _ = c.Marshal()
	if b[0] != commandVersion {
		t.Fatalf("version %d without a request id", b[0])
	}
	long := Command{Subsystem: "kv", RequestID: string(make([]byte, MaxRequestIDLen+1))}
	if _, err := long.Marshal(); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("over-long request id: %v", err)
	}
	// Truncations of a version 2 command fail cleanly.
	c.RequestID = "abc"
	b, _ = c.Marshal()
	for i := range len(b) - len(c.Payload) {
		if _, err := Unmarshal(b[:i]); err == nil {
			t.Fatalf("truncated command of %d bytes decoded", i)
		}
	}
}

func TestRememberedAnswerIsDeterministicBytes(t *testing.T) {
	// Two replicas applying the same commands remember the same bytes, so
	// their snapshots agree.
	a, _ := newCounterFSM(t, DedupConfig{})
	b, _ := newCounterFSM(t, DedupConfig{})
	for i := range 20 {
		a.ApplyCommand(inc(fmt.Sprint("r", i), int64(i)))
		b.ApplyCommand(inc(fmt.Sprint("r", i), int64(i)))
	}
	if !bytes.Equal(snapshotBytes(t, a), snapshotBytes(t, b)) {
		t.Fatal("replicas' snapshots differ")
	}
}

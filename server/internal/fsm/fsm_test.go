package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a subsystem that keeps every payload it applies, has one
// settable deadline, and snapshots as newline-separated payloads.
type recorder struct {
	name string

	mu       sync.Mutex
	entries  []string
	ats      []int64
	ticks    []int64
	deadline int64
	restores int
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Apply(c Command) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch c.Op {
	case 1:
		r.entries = append(r.entries, string(c.Payload))
		r.ats = append(r.ats, c.AtMs)
		return len(r.entries)
	case 2:
		panic("op 2 panics")
	default:
		return fmt.Errorf("recorder: unknown op %d", c.Op)
	}
}

func (r *recorder) Tick(at int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ticks = append(r.ticks, at)
	if r.deadline != 0 && r.deadline <= at {
		r.deadline = 0
	}
}

func (r *recorder) NextDeadline() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deadline
}

func (r *recorder) Snapshot() (func(io.Writer) error, error) {
	r.mu.Lock()
	copied := slices.Clone(r.entries)
	r.mu.Unlock()
	return func(w io.Writer) error {
		for _, e := range copied {
			if _, err := io.WriteString(w, e+"\n"); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func (r *recorder) Restore(rd io.Reader) error {
	b, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restores++
	r.entries = nil
	for line := range strings.Lines(string(b)) {
		r.entries = append(r.entries, strings.TrimSuffix(line, "\n"))
	}
	return nil
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.entries)
}

func newFSM(t *testing.T, names ...string) (*FSM, []*recorder) {
	t.Helper()
	f := New(nil)
	var recs []*recorder
	for _, n := range names {
		r := &recorder{name: n}
		if err := f.Register(r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return f, recs
}

func apply(t *testing.T, f *FSM, c Command) any {
	t.Helper()
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Type: raft.LogCommand, Data: b})
}

func TestRegister(t *testing.T) {
	f := New(nil)
	for _, bad := range []string{"", "Upper", "1abc", "_fsm", "has-dash", strings.Repeat("a", MaxSubsystemNameLen+1)} {
		if err := f.Register(&recorder{name: bad}); err == nil {
			t.Errorf("Register(%q) accepted an invalid name", bad)
		}
	}
	if err := f.Register(&recorder{name: "kv"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Register(&recorder{name: "kv"}); err == nil {
		t.Error("duplicate name accepted")
	}
	apply(t, f, Command{Subsystem: "kv", Op: 1})
	if err := f.Register(&recorder{name: "late"}); err == nil {
		t.Error("Register after Apply accepted")
	}
}

func TestApplyDispatch(t *testing.T) {
	f, r := newFSM(t, "a", "b")
	if got := apply(t, f, Command{Subsystem: "b", Op: 1, AtMs: 10, Payload: []byte("x")}); got != 1 {
		t.Fatalf("result = %v, want 1", got)
	}
	if got := r[1].get(); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("b has %q", got)
	}
	if len(r[0].get()) != 0 {
		t.Fatal("a received b's command")
	}
	err, _ := apply(t, f, Command{Subsystem: "nope", Op: 1}).(error)
	if !errors.Is(err, ErrUnknownSubsystem) {
		t.Fatalf("unknown subsystem: %v", err)
	}
	err, _ = apply(t, f, Command{Subsystem: "a", Op: 2}).(error)
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("panicking op: %v", err)
	}
	err, _ = apply(t, f, Command{Subsystem: tickSubsystem, Op: 99}).(error)
	if !errors.Is(err, ErrBadCommand) {
		t.Fatalf("unknown fsm op: %v", err)
	}
}

// A corrupt or foreign log entry must come back as an error value: a panic
// would crash the server on every replay of that entry.
func TestApplyGarbageReturnsError(t *testing.T) {
	f, _ := newFSM(t, "a")
	for _, data := range [][]byte{nil, {}, {0}, {7, 1, 'a'}, {1, 200}, {1, 1, 'a', 0}, {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		res := f.Apply(&raft.Log{Type: raft.LogCommand, Data: data})
		if err, ok := res.(error); !ok || !errors.Is(err, ErrBadCommand) {
			t.Errorf("Apply(%x) = %v, want ErrBadCommand", data, res)
		}
	}
}

// Leader clocks can step back; subsystems must see time only move forward.
func TestClockIsMonotonic(t *testing.T) {
	f, r := newFSM(t, "a")
	for _, at := range []int64{100, 50, 200, 150} {
		apply(t, f, Command{Subsystem: "a", Op: 1, AtMs: at})
	}
	apply(t, f, TickCommand(120))
	r[0].mu.Lock()
	defer r[0].mu.Unlock()
	if want := []int64{100, 100, 200, 200}; !slices.Equal(r[0].ats, want) {
		t.Fatalf("AtMs seen = %v, want %v", r[0].ats, want)
	}
	if want := []int64{200}; !slices.Equal(r[0].ticks, want) {
		t.Fatalf("ticks = %v, want %v", r[0].ticks, want)
	}
}

func TestTickAndNextDeadline(t *testing.T) {
	f, r := newFSM(t, "a", "b", "c")
	if d := f.NextDeadline(); d != 0 {
		t.Fatalf("NextDeadline with nothing pending = %d", d)
	}
	r[0].deadline, r[1].deadline = 500, 300
	if d := f.NextDeadline(); d != 300 {
		t.Fatalf("NextDeadline = %d, want 300", d)
	}
	if res := apply(t, f, TickCommand(400)); res != nil {
		t.Fatalf("tick result %v", res)
	}
	for i, rec := range r {
		if !slices.Equal(rec.ticks, []int64{400}) {
			t.Errorf("subsystem %d ticks = %v", i, rec.ticks)
		}
	}
	if d := f.NextDeadline(); d != 500 {
		t.Fatalf("NextDeadline after tick = %d, want 500", d)
	}
}

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	s, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.(*fsmSnapshot).writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	s.Release()
	return buf.Bytes()
}

func TestSnapshotRestoreEverySubsystem(t *testing.T) {
	src, _ := newFSM(t, "a", "b", "empty")
	big := strings.Repeat("z", 3*maxChunk+17) // crosses chunk boundaries
	for i := range 50 {
		apply(t, src, Command{Subsystem: "a", Op: 1, AtMs: int64(i), Payload: fmt.Appendf(nil, "a%d", i)})
		apply(t, src, Command{Subsystem: "b", Op: 1, AtMs: int64(i), Payload: fmt.Appendf(nil, "b%d", i)})
	}
	apply(t, src, Command{Subsystem: "b", Op: 1, AtMs: 1000, Payload: []byte(big)})

	snap := snapshotBytes(t, src)
	// Applying after the snapshot must not leak into it: it is a point-in-time copy.
	apply(t, src, Command{Subsystem: "a", Op: 1, AtMs: 1001, Payload: []byte("after")})

	dst, d := newFSM(t, "a", "b", "empty")
	apply(t, dst, Command{Subsystem: "empty", Op: 1, Payload: []byte("stale")})
	if err := dst.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	a, b := d[0].get(), d[1].get()
	if len(a) != 50 || a[0] != "a0" || a[49] != "a49" {
		t.Fatalf("a restored %d entries: %q...", len(a), a[:min(3, len(a))])
	}
	if len(b) != 51 || b[50] != big {
		t.Fatalf("b restored %d entries", len(b))
	}
	if e := d[2].get(); len(e) != 0 {
		t.Fatalf("empty subsystem restored %q", e)
	}
	if dst.clock != 1000 {
		t.Fatalf("clock restored as %d, want 1000", dst.clock)
	}
	for i, r := range d {
		if r.restores != 1 {
			t.Errorf("subsystem %d restored %d times", i, r.restores)
		}
	}
}

// A subsystem added after a snapshot was taken starts empty; a snapshot frame
// for a subsystem this server does not know is refused rather than dropped.
func TestRestoreAbsentAndUnknown(t *testing.T) {
	src, _ := newFSM(t, "a")
	apply(t, src, Command{Subsystem: "a", Op: 1, Payload: []byte("x")})
	snap := snapshotBytes(t, src)

	dst, d := newFSM(t, "a", "newer")
	apply(t, dst, Command{Subsystem: "newer", Op: 1, Payload: []byte("stale")})
	if err := dst.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if got := d[1].get(); len(got) != 0 || d[1].restores != 1 {
		t.Fatalf("absent subsystem not reset: %q (restores %d)", got, d[1].restores)
	}

	other, _ := newFSM(t, "b")
	err := other.Restore(io.NopCloser(bytes.NewReader(snap)))
	if !errors.Is(err, ErrUnknownSubsystem) {
		t.Fatalf("unknown frame: %v", err)
	}
}

func TestRestoreRejectsGarbage(t *testing.T) {
	src, _ := newFSM(t, "a", "b")
	apply(t, src, Command{Subsystem: "a", Op: 1, Payload: []byte("hello")})
	good := snapshotBytes(t, src)
	cases := map[string][]byte{
		"empty":       nil,
		"bad magic":   []byte("XXXX\x01\x00\x00"),
		"bad version": []byte("WMFS\x09\x00\x00"),
		"huge count":  append([]byte("WMFS\x01\x00"), binary.AppendUvarint(nil, 1<<40)...),
	}
	for cut := 1; cut < len(good); cut++ {
		cases[fmt.Sprintf("truncated at %d", cut)] = good[:cut]
	}
	for name, data := range cases {
		dst, _ := newFSM(t, "a", "b")
		if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err == nil {
			t.Errorf("%s: Restore accepted it", name)
		}
	}
}

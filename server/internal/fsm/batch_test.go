package fsm

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

func marshalAll(t *testing.T, cmds ...Command) [][]byte {
	t.Helper()
	var out [][]byte
	for _, c := range cmds {
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func applyBatchEntry(t *testing.T, f *FSM, index uint64, cmds ...Command) BatchResults {
	t.Helper()
	res := f.Apply(&raft.Log{Type: raft.LogCommand, Index: index, Data: AppendBatch(nil, marshalAll(t, cmds...))})
	br, ok := res.(BatchResults)
	if !ok || len(br) != len(cmds) {
		t.Fatalf("batch of %d answered %T %v, want %d BatchResults", len(cmds), res, res, len(cmds))
	}
	return br
}

// Each command of a batch is applied as if it were its own entry, in
// order: its own answer, its own (clamped) time, and the applied index is
// the batch's entry.
func TestBatchAppliesEachCommandInOrder(t *testing.T) {
	f, r := newFSM(t, "a", "b")
	res := applyBatchEntry(t, f, 7,
		Command{Subsystem: "a", Op: 1, AtMs: 10, Payload: []byte("x")},
		Command{Subsystem: "b", Op: 1, AtMs: 12, Payload: []byte("y")},
		Command{Subsystem: "a", Op: 1, AtMs: 9, Payload: []byte("z")}, // stepped back: clamped to 12
		Command{Subsystem: "nope", Op: 1},
		Command{Subsystem: "a", Op: 2}, // panics: an error for it alone
		Command{Subsystem: "a", Op: 1, AtMs: 20, Payload: []byte("w")},
	)
	if res[0] != 1 || res[1] != 1 || res[2] != 2 || res[5] != 3 {
		t.Fatalf("answers %v, want 1, 1, 2, _, _, 3", res)
	}
	if err, _ := res[3].(error); !errors.Is(err, ErrUnknownSubsystem) {
		t.Fatalf("unknown subsystem in a batch: %v", res[3])
	}
	if _, ok := res[4].(error); !ok {
		t.Fatalf("panicking op in a batch: %v", res[4])
	}
	if got := r[0].get(); !slices.Equal(got, []string{"x", "z", "w"}) {
		t.Fatalf("a applied %q", got)
	}
	r[0].mu.Lock()
	ats := slices.Clone(r[0].ats)
	r[0].mu.Unlock()
	if !slices.Equal(ats, []int64{10, 12, 20}) {
		t.Fatalf("a's times %v, want 10 12 20 (the third clamped)", ats)
	}
	if f.AppliedIndex() != 7 {
		t.Fatalf("applied index %d, want 7", f.AppliedIndex())
	}
}

// Request ids and fences are checked per command inside a batch, against
// the state the commands before it left: a retry in the same batch gets
// the first answer, and a fence is checked at its own place.
func TestBatchDedupAndFencePerCommand(t *testing.T) {
	f, c, l := newFencedFSM(t)
	fenced := Command{Subsystem: "counter", Op: 1, AtMs: 1, Fence: Fence{Key: "k", Token: 5}, Payload: []byte("f")}
	res := applyBatchEntry(t, f, 1, inc("r1", 1), inc("r1", 2), fenced, inc("r2", 3))
	if count(t, res[0]) != 1 || count(t, res[1]) != 1 || count(t, res[2]) != 2 || count(t, res[3]) != 3 {
		t.Fatalf("answers %v, want 1 1 2 3 (the retry answered the first)", res)
	}
	if c.n != 3 {
		t.Fatalf("applied %d, want 3", c.n)
	}
	l.tok = 6
	res = applyBatchEntry(t, f, 2, fenced, inc("r1", 4))
	wantFenced(t, res[0], "6")
	if count(t, res[1]) != 1 {
		t.Fatalf("retry after the batch: %v", res[1])
	}
}

// A garbage batch applies nothing and answers one error; a garbage command
// inside a well-framed batch answers an error for itself alone.
func TestBatchGarbage(t *testing.T) {
	f, r := newFSM(t, "a")
	good := marshalAll(t, Command{Subsystem: "a", Op: 1, Payload: []byte("ok")}, Command{Subsystem: "a", Op: 1, Payload: []byte("ok2")})
	whole := AppendBatch(nil, good)
	for _, data := range [][]byte{
		{commandVersionBatch},
		{commandVersionBatch, 1, 2, 1, 0},  // count 1: never written
		{commandVersionBatch, 0xff},        // bad count varint
		{commandVersionBatch, 100, 1, 1},   // count beyond the data
		append(slices.Clone(whole), 0),     // trailing byte
		whole[:len(whole)-1],               // truncated
		AppendBatch(nil, [][]byte{{}, {}}), // empty items
	} {
		res := f.Apply(&raft.Log{Type: raft.LogCommand, Data: data})
		if err, ok := res.(error); !ok || !errors.Is(err, ErrBadCommand) {
			t.Errorf("Apply(%x) = %v, want one ErrBadCommand", data, res)
		}
	}
	if got := r[0].get(); len(got) != 0 {
		t.Fatalf("a garbage batch applied %q", got)
	}
	// A batch never holds a batch: the nested one is refused as an item,
	// and the item after it applies.
	res := f.Apply(&raft.Log{Type: raft.LogCommand, Data: AppendBatch(nil, [][]byte{whole, good[0]})})
	br, ok := res.(BatchResults)
	if !ok || len(br) != 2 {
		t.Fatalf("nested batch answered %T %v", res, res)
	}
	if err, _ := br[0].(error); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("nested batch item answered %v, want ErrBadCommand", br[0])
	}
	if got := r[0].get(); !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("applied %q, want only the item after the nested batch", got)
	}
}

func TestSplitBatchRoundTrip(t *testing.T) {
	cmds := marshalAll(t, commandSeeds[1:]...)
	b := AppendBatch(nil, cmds)
	if len(b) > BatchSize(cmds) {
		t.Fatalf("batch of %d bytes, BatchSize said %d", len(b), BatchSize(cmds))
	}
	got, err := SplitBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(cmds) {
		t.Fatalf("%d commands back, want %d", len(got), len(cmds))
	}
	for i := range cmds {
		if !bytes.Equal(got[i], cmds[i]) {
			t.Fatalf("command %d differs", i)
		}
	}
}

// FuzzBatchDecode checks that a batch entry never panics the FSM and that
// what SplitBatch accepts re-encodes to the same bytes.
// Run with: go test -fuzz=FuzzBatchDecode ./internal/fsm
func FuzzBatchDecode(f *testing.F) {
	var cmds [][]byte
	for _, c := range commandSeeds {
		b, _ := c.Marshal()
		cmds = append(cmds, b)
	}
	f.Add(AppendBatch(nil, cmds))
	f.Add(AppendBatch(nil, cmds[:2]))
	f.Add([]byte{commandVersionBatch, 2, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm, _ := newFSM(t, "kv", "lock")
		_ = fsm.Apply(&raft.Log{Type: raft.LogCommand, Data: data})
		parts, err := SplitBatch(data)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error not wrapping ErrBadCommand: %v", err)
			}
			return
		}
		if again := AppendBatch(nil, parts); !bytes.Equal(again, data) {
			// Varints have one shortest form; a longer one decodes too
			// but re-encodes shorter. Only the shortest must round-trip.
			if p2, err := SplitBatch(again); err != nil || len(p2) != len(parts) {
				t.Fatalf("re-encoded batch does not decode alike: %v", err)
			}
		}
	})
}

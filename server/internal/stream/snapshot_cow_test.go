package stream

import (
	"bytes"
	"fmt"
	"testing"

	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
)

// A snapshot is the state at its cut, whatever apply does while the writer
// runs: the writer shares the message blocks, and apply copies a block
// before clearing a slot of it (copy on write). Run with -race: the writer
// runs concurrently with publishes whose limits remove the oldest
// messages, in the very blocks it reads.
func TestSnapshotIsTheCutWhileApplyRemovesMessages(t *testing.T) {
	build := func() *Machine {
		m := New()
		apply(t, m, OpCreateStream, 1, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "s", MaxMsgs: 2500}})
		for i := range 3000 {
			apply(t, m, OpPublish, 2, pub("s", fmt.Sprint("m", i)))
		}
		return m
	}
	want := func() []byte {
		w, err := build().Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := w(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}()

	m := build()
	write, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- write(&got) }()
	for i := range 2600 { // removes every message of the cut
		apply(t, m, OpPublish, 3, pub("s", fmt.Sprint("n", i)))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("snapshot written while apply ran differs from the state at the cut (%d vs %d bytes)", got.Len(), len(want))
	}
	// Restored, it holds the cut's messages; the live machine moved on.
	r := New()
	if err := r.Restore(bytes.NewReader(got.Bytes())); err != nil {
		t.Fatal(err)
	}
	if info := r.StreamInfo("s").GetInfo().GetState(); info.GetMsgs() != 2500 || info.GetFirstSeq() != 501 || info.GetLastSeq() != 3000 {
		t.Fatalf("restored state %v", info)
	}
	if info := m.StreamInfo("s").GetInfo().GetState(); info.GetFirstSeq() != 3101 || info.GetLastSeq() != 5600 {
		t.Fatalf("live state %v", info)
	}
	// A later snapshot, with the writer done, copies nothing more.
	if _, err := m.Snapshot(); err != nil {
		t.Fatal(err)
	}
}

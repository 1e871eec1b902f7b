package objstore

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// revisionsSince drains changesSince in batches of 3, as the watch loop
// does, and answers the revisions it delivers, or the failure.
func revisionsSince(t *testing.T, m *Machine, after uint64) ([]uint64, string) {
	t.Helper()
	var out []uint64
	for {
		got, rev, r := m.ChangesSince("s", after, true, 3)
		if r != nil {
			return out, r.GetResultCode() + ": " + r.GetMessage()
		}
		for _, info := range got {
			out = append(out, info.GetRevision())
		}
		if len(got) == 0 {
			return out, ""
		}
		after = rev
	}
}

func span(from, to uint64) string {
	var b strings.Builder
	for r := from; r <= to; r++ {
		fmt.Fprint(&b, r, " ")
	}
	return b.String()
}

func revs(r []uint64) string {
	var b strings.Builder
	for _, v := range r {
		fmt.Fprint(&b, v, " ")
	}
	return b.String()
}

// A watcher behind the writers gets every version of an object, and a
// deleted marker even after it expired; further behind than the change log
// holds it is told compacted, and a snapshot keeps that true.
func TestWatchChangeLog(t *testing.T) {
	m, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	m.SetWatchBacklog(10)
	createStore(t, m, &objstorepb.ObjectStoreConfig{Name: "s", TtlMs: 1000})
	for i := range 6 {
		m.Apply(stage(t, m, "s", "o", []byte{byte(i)}, 10)) // revisions 1..6, one name
	}
	m.Apply(cmd(t, OpDelete, 10, &objstorepb.ObjectStoreServiceDeleteRequest{Store: "s", Name: "o"})) // 7
	m.Tick(2000)                                                                                      // the marker expires: gone from the state
	if got, fail := revisionsSince(t, m, 0); fail != "" || revs(got) != span(1, 7) {
		t.Fatalf("got %v %s, want 1..7", got, fail)
	}
	for i := range 8 {
		m.Apply(stage(t, m, "s", "p", []byte{byte(i)}, 3000)) // 8..15: 1..5 leave the log
	}
	_, fail := revisionsSince(t, m, 2)
	if !strings.HasPrefix(fail, result.CodeCompacted+":") || !strings.Contains(fail, "resume from revision 5 ") {
		t.Fatalf("from 2: %s, want compacted naming revision 5", fail)
	}
	if got, fail := revisionsSince(t, m, 5); fail != "" || revs(got) != span(6, 15) {
		t.Fatalf("from 5: %v %s", got, fail)
	}

	// Restored from a snapshot (which has no change log), no watch
	// resumes across a lost change; from past the last lost one it gets
	// every change that follows.
	write, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	m2, _ := New("")
	if err := m2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if _, fail := revisionsSince(t, m2, 13); !strings.HasPrefix(fail, result.CodeCompacted) {
		t.Fatalf("restored, from 13: %s", fail)
	}
	m2.Apply(stage(t, m2, "s", "q", nil, 3000)) // 16
	if got, fail := revisionsSince(t, m2, 14); fail != "" || revs(got) != span(15, 16) {
		t.Fatalf("restored, from 14: %v %s", got, fail)
	}
}

// With nothing overwritten, a resume older than the change log is served
// from the current infos.
func TestWatchChangeLogFallsBackOnState(t *testing.T) {
	m, _ := New("")
	m.SetWatchBacklog(2)
	createStore(t, m, &objstorepb.ObjectStoreConfig{Name: "s"})
	for i := range 7 {
		m.Apply(stage(t, m, "s", fmt.Sprint("o", i), nil, 10))
	}
	if got, fail := revisionsSince(t, m, 1); fail != "" || revs(got) != span(2, 7) {
		t.Fatalf("got %v %s", got, fail)
	}
}

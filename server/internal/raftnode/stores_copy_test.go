package raftnode

import (
	"testing"

	"github.com/hashicorp/raft"
)

// The in-memory log keeps its own copy of each entry: raft passes the
// leader's store a pointer into the entry's apply future, and keeping that
// pointer kept the future and its response alive until compaction.
func TestInmemLogStoreKeepsCopies(t *testing.T) {
	s := copyingLogStore{raft.NewInmemStore()}
	given := []*raft.Log{{Index: 1, Term: 1, Data: []byte("a")}, {Index: 2, Term: 1, Data: []byte("b")}}
	if err := s.StoreLogs(given); err != nil {
		t.Fatal(err)
	}
	one := &raft.Log{Index: 3, Term: 2, Data: []byte("c")}
	if err := s.StoreLog(one); err != nil {
		t.Fatal(err)
	}
	given[0].Term, given[1].Data, one.Term = 9, []byte("changed"), 9
	for _, want := range []raft.Log{{Index: 1, Term: 1, Data: []byte("a")}, {Index: 2, Term: 1, Data: []byte("b")}, {Index: 3, Term: 2, Data: []byte("c")}} {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatal(err)
		}
		if got.Term != want.Term || string(got.Data) != string(want.Data) {
			t.Fatalf("entry %d = term %d %q, want term %d %q: the store kept the caller's entry", want.Index, got.Term, got.Data, want.Term, want.Data)
		}
	}
	if last, _ := s.LastIndex(); last != 3 {
		t.Fatalf("LastIndex = %d, want 3", last)
	}
}

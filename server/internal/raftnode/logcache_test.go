package raftnode

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

// countingStore counts the reads that reach the store under the cache.
type countingStore struct {
	*raft.InmemStore
	reads int
}

func (s *countingStore) GetLog(index uint64, l *raft.Log) error {
	s.reads++
	return s.InmemStore.GetLog(index, l)
}

func TestLogCacheIsBoundedByCountAndBytes(t *testing.T) {
	store := &countingStore{InmemStore: raft.NewInmemStore()}
	c := newLogCache(store, 4, 1000)
	entry := func(i uint64, size int) *raft.Log {
		return &raft.Log{Index: i, Term: 1, Data: bytes.Repeat([]byte{byte(i)}, size)}
	}
	read := func(i uint64) (fromStore bool) {
		t.Helper()
		before := store.reads
		var l raft.Log
		if err := c.GetLog(i, &l); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if l.Index != i || len(l.Data) == 0 || l.Data[0] != byte(i) {
			t.Fatalf("GetLog(%d) returned entry %d", i, l.Index)
		}
		return store.reads > before
	}
	for i := uint64(1); i <= 6; i++ {
		if err := c.StoreLog(entry(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	// By count: the last 4 are cached, the rest read through.
	for i, want := range map[uint64]bool{1: true, 2: true, 3: false, 6: false} {
		if got := read(i); got != want {
			t.Fatalf("entry %d read from the store: %t, want %t", i, got, want)
		}
	}
	// By bytes: two entries of 400 and one of 300 exceed 1000, so the
	// oldest of them goes, and the small ones before it.
	if err := c.StoreLogs([]*raft.Log{entry(7, 400), entry(8, 400), entry(9, 300)}); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[uint64]bool{6: true, 7: true, 8: false, 9: false} {
		if got := read(i); got != want {
			t.Fatalf("after large entries: entry %d read from the store: %t, want %t", i, got, want)
		}
	}
	// A suffix cut and different entries at the same indices: never the old ones.
	if err := c.DeleteRange(8, 9); err != nil {
		t.Fatal(err)
	}
	if err := c.StoreLogs([]*raft.Log{{Index: 8, Term: 2, Data: []byte{8}}}); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := c.GetLog(8, &l); err != nil || l.Term != 2 {
		t.Fatalf("after the cut: entry 8 term %d (%v), want term 2", l.Term, err)
	}
	if err := c.GetLog(9, &l); err != raft.ErrLogNotFound {
		t.Fatalf("after the cut: entry 9: %v, want ErrLogNotFound", err)
	}
}

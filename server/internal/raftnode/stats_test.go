package raftnode

import (
	"context"
	"testing"
	"time"
)

func TestStatsAndLeaderWatch(t *testing.T) {
	n, _ := startNode(t, Config{DataDir: t.TempDir()})
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	s, ok := n.Stats()
	if !ok || s.State != "Leader" || s.Term < 1 || s.CommitIndex < 1 || s.AppliedIndex != s.CommitIndex || s.Voters != 1 {
		t.Fatalf("Stats() = %+v, %v; want a leader of term >= 1 with everything applied and one voter", s, ok)
	}
	if s.LastSnapshotIndex < 1 || s.LastSnapshotBytes <= 0 {
		t.Fatalf("Stats() after a snapshot = %+v", s)
	}
	if got, _ := n.Leader(); got != DefaultNodeID {
		t.Fatalf("Leader() = %q, want %q", got, DefaultNodeID)
	}

	ctx, cancel := context.WithCancel(context.Background())
	seen := make(chan string, 4)
	done := make(chan error, 1)
	go func() { done <- n.WatchLeader(ctx, func(id string) { seen <- id }) }()
	select {
	case id := <-seen:
		if id != DefaultNodeID {
			t.Fatalf("WatchLeader's first call got %q, want %q", id, DefaultNodeID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WatchLeader did not report the current leader")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("WatchLeader after cancel: %v", err)
	}
}

func TestStatsBeforeStart(t *testing.T) {
	n := &Node{}
	if _, ok := n.Stats(); ok {
		t.Error("Stats before Start reported ok")
	}
	if id, _ := n.Leader(); id != "" {
		t.Error("Leader before Start is not empty")
	}
	if err := n.WatchLeader(context.Background(), func(string) {}); err != ErrNotStarted {
		t.Errorf("WatchLeader before Start = %v, want ErrNotStarted", err)
	}
}

package raftnode

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
)

// Shutdown returns while an entry is committed and not yet applied: when
// raft shuts down with entries queued for the FSM it drops them, and
// their futures never resolve of themselves. Shutdown must return anyway,
// and must leave no goroutine waiting on such a future behind.
// The entry behind a blocked apply is dropped or applied as raft's FSM
// loop happens to choose, so the scenario runs several times.
func TestShutdownWithAnEntryCommittedNotApplied(t *testing.T) {
	for range 6 {
		n, g := startGated(t, Config{})
		r := n.raft.Load()
		blocked := holdApply(t, n, g)
		last := r.LastIndex()
		queued := make(chan error, 1)
		go func() {
			_, err := n.Propose(context.Background(), "gate", 1, nil)
			queued <- err
		}()
		waitFor(t, "the second entry to commit behind the blocked apply", func() bool { return r.CommitIndex() > last })
		shut := make(chan error, 1)
		go func() { shut <- n.Shutdown() }()
		waitFor(t, "raft to shut down", func() bool { return r.State() == raft.Shutdown })
		g.open()
		select {
		case <-shut:
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown did not return with a committed entry left unapplied")
		}
		for _, ch := range []chan error{blocked, queued} {
			select {
			case <-ch: // answered or refused: either way the caller returns
			case <-time.After(10 * time.Second):
				t.Fatal("a proposal did not return after Shutdown")
			}
		}
		if err := goleak.Find(); err != nil {
			t.Fatalf("after Shutdown with an entry committed and not applied: %v", err)
		}
	}
}

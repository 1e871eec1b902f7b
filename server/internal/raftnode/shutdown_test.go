package raftnode

import (
	"context"
	"sync"
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

// Both kinds of future the node waits on can be bound to its shutdown. If
// a raft upgrade renames the field bindShutdown sets, this fails rather
// than leaving the node to hang on a future raft dropped.
func TestFuturesBindToShutdown(t *testing.T) {
	n, _ := startNode(t, Config{})
	r := n.raft.Load()
	done := make(chan struct{})
	v := r.VerifyLeader()
	if !bindShutdown(v, done) {
		t.Fatal("a VerifyLeader future could not be bound to shutdown")
	}
	if err := v.Error(); err != nil {
		t.Fatalf("VerifyLeader on a single leader: %v", err)
	}
	a := r.Apply([]byte{}, 0)
	if !bindShutdown(a, done) {
		t.Fatal("an Apply future could not be bound to shutdown")
	}
	_ = a.Error()
}

// A leader shut down while reads wait on a leadership check leaves no
// round of it behind: raft never answers a check still in its queue when
// it stops, and the node must not wait on one for good. The race is in
// raft's scheduling, so the scenario runs several times.
func TestShutdownDuringReadIndexLeavesNoRound(t *testing.T) {
	for range 4 {
		c := startCluster(t, 3)
		l := c.nodes[c.leader(all)]
		var wg sync.WaitGroup
		started := make(chan struct{}, 8)
		for range 8 {
			wg.Go(func() {
				started <- struct{}{}
				for {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, err := l.ReadIndex(ctx)
					cancel()
					if err != nil {
						return // shut down, or no longer the leader
					}
				}
			})
		}
		for range 8 {
			<-started
		}
		waitFor(t, "a leadership check to be under way", func() bool {
			l.vmu.Lock()
			defer l.vmu.Unlock()
			return l.vrunning
		})
		shut := make(chan error, 1)
		go func() { shut <- l.Shutdown() }()
		select {
		case <-shut:
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown did not return while reads were checking leadership")
		}
		wg.Wait() // every reader returned
		l.vmu.Lock()
		running := l.vrunning
		l.vmu.Unlock()
		if running {
			t.Fatal("a leadership check still runs after Shutdown returned")
		}
		for _, n := range c.nodes {
			_ = n.Shutdown()
		}
		if err := goleak.Find(); err != nil {
			t.Fatalf("after shutting a leader down during reads: %v", err)
		}
	}
}

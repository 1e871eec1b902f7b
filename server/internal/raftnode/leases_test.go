package raftnode

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// leaderJournal is a subsystem whose leader proposes commands from its
// memory (fsm.LeaderExpirer).
type leaderJournal struct {
	journal
	lmu     sync.Mutex
	decided bool
	queued  []fsm.Command
	applied []fsm.Command
}

func (j *leaderJournal) Name() string { return "leaderj" }

func (j *leaderJournal) Apply(c fsm.Command) any {
	j.lmu.Lock()
	defer j.lmu.Unlock()
	j.applied = append(j.applied, c)
	return len(j.applied)
}

func (j *leaderJournal) LeaderDecides() {
	j.lmu.Lock()
	defer j.lmu.Unlock()
	j.decided = true
}

func (j *leaderJournal) LeaderCommands(int64) []fsm.Command {
	j.lmu.Lock()
	defer j.lmu.Unlock()
	q := j.queued
	j.queued = nil
	return q
}

func (j *leaderJournal) state() (decided bool, applied []fsm.Command) {
	j.lmu.Lock()
	defer j.lmu.Unlock()
	return j.decided, append([]fsm.Command(nil), j.applied...)
}

// A new leader's re-arm switches the subsystem to leader-decided
// deadlines, the ticker proposes what its memory has due, stamped with
// the leader's clock, and ConfirmLeader answers at once on one node.
func TestTickerProposesLeaderCommands(t *testing.T) {
	f := fsm.New(nil)
	j := &leaderJournal{}
	if err := f.Register(j); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{TickInterval: 5 * time.Millisecond, Logger: zaptest.NewLogger(t)}, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.ConfirmLeader(ctx); err != nil {
		t.Fatalf("ConfirmLeader on a single node: %v", err)
	}
	if decided, _ := j.state(); !decided {
		t.Fatal("the node is ready but its re-arm did not switch to leader-decided deadlines")
	}
	before := time.Now().UnixMilli()
	j.lmu.Lock()
	j.queued = []fsm.Command{{Subsystem: "leaderj", Op: 9, Payload: []byte("x")}}
	j.lmu.Unlock()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, applied := j.state(); len(applied) > 0 {
			if len(applied) != 1 || applied[0].Op != 9 || string(applied[0].Payload) != "x" || applied[0].AtMs < before {
				t.Fatalf("applied %+v, want the one queued command stamped at >= %d", applied, before)
			}
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatal("the ticker never proposed the leader's command")
		}
	}
}

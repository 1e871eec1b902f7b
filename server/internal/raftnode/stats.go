package raftnode

import (
	"context"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Stats is what monitoring reads of the node's raft state.
type Stats struct {
	// State is raft's: "Leader", "Follower", "Candidate" or "Shutdown".
	State             string
	Term              uint64
	LastLogIndex      uint64
	CommitIndex       uint64
	AppliedIndex      uint64
	FSMPending        uint64 // committed entries queued for the FSM
	LastSnapshotIndex uint64
	// LastSnapshotBytes is the size of the latest snapshot kept, 0 when
	// there is none.
	LastSnapshotBytes int64
	// Voters counts the voters of the latest configuration, this node included.
	Voters int
}

// Stats reads raft's counters. ok is false before Start has created raft.
func (n *Node) Stats() (s Stats, ok bool) {
	r := n.raft.Load()
	if r == nil {
		return s, false
	}
	m := r.Stats()
	u := func(k string) uint64 {
		v, _ := strconv.ParseUint(m[k], 10, 64)
		return v
	}
	s = Stats{State: m["state"], Term: u("term"), LastLogIndex: u("last_log_index"), CommitIndex: u("commit_index"),
		AppliedIndex: u("applied_index"), FSMPending: u("fsm_pending"), LastSnapshotIndex: u("last_snapshot_index")}
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				s.Voters++
			}
		}
	}
	if metas, err := n.snaps.List(); err == nil && len(metas) > 0 {
		s.LastSnapshotBytes = metas[0].Size // newest first
	}
	return s, true
}

// HeardFromLeader reports whether a leader contacted this node (or this
// node led) within the last d: a node that is installing a snapshot or
// replaying entries keeps hearing heartbeats while it works.
func (n *Node) HeardFromLeader(d time.Duration) bool {
	r := n.raft.Load()
	if r == nil {
		return false
	}
	if r.State() == raft.Leader {
		return true
	}
	last := r.LastContact()
	return !last.IsZero() && time.Since(last) <= d
}

// WatchLeader calls fn with the leader's ID ("" while there is none) once
// at the start and then each time it changes, until ctx ends; it returns
// then (ErrNotStarted before Start). fn runs on the caller's goroutine and
// should be quick.
func (n *Node) WatchLeader(ctx context.Context, fn func(leaderID string)) error {
	if n.raft.Load() == nil {
		return ErrNotStarted
	}
	last, first := "", true
	for {
		changed := n.Changed() // before the look, so no change is missed
		id, _ := n.Leader()
		if first || id != last {
			fn(id)
			last, first = id, false
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

package raftnode

import (
	"context"
	"errors"

	"github.com/hashicorp/raft"
)

// The read path: the applied index, waits on it, and the leader's read
// index with its batched leadership check.

// AppliedIndex is the index of the last entry this node's state machines
// have applied.
func (n *Node) AppliedIndex() uint64 { return n.fsm.AppliedIndex() }

// WaitApplied waits until this node's state machines have applied the
// entry at index, ctx ends, or the node stops.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	if n.fsm.AppliedIndex() >= index {
		return nil
	}
	ch := n.appliedWaiter(index)
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		n.dropWaiter(ch)
		return ctx.Err()
	case <-n.ctx.Done():
		n.dropWaiter(ch)
		return ErrShuttingDown
	}
}

// ReadIndex is the leader's half of a linearizable read: it records the
// commit index, confirms that this node still leads (one round of
// heartbeats serves every read waiting at the time), and returns the
// index. A read that waits until its node has applied that index, and then
// reads local state, sees every write acknowledged before it began.
// *NotLeaderError on a follower.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	r := n.raft.Load()
	if r == nil {
		return 0, ErrNotStarted
	}
	for {
		changed := n.changed() // before the check, so no change is missed
		if n.ready() {
			break
		}
		if r.State() != raft.Leader {
			return 0, n.notLeader(r)
		}
		// A leader that has not committed its barrier yet does not know
		// the commit index of earlier terms.
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-n.ctx.Done():
			return 0, ErrShuttingDown
		}
	}
	idx := r.CommitIndex()
	if n.single {
		return idx, nil
	}
	if err := n.verifyLeader(ctx, r); err != nil {
		return 0, err
	}
	return idx, nil
}

// verifyLeader confirms leadership with a quorum. Concurrent callers share
// rounds: a caller joins the next round to start after it arrived, so the
// check happens after its commit index was read.
func (n *Node) verifyLeader(ctx context.Context, r *raft.Raft) error {
	ch := make(chan error, 1)
	n.vmu.Lock()
	if n.vstopped {
		n.vmu.Unlock()
		return ErrShuttingDown
	}
	n.vwaiting = append(n.vwaiting, ch)
	if !n.vrunning {
		n.vrunning = true
		n.wg.Add(1) // under vmu, before stopVerify: Shutdown's wait sees it
		go n.runVerify(r)
	}
	n.vmu.Unlock()
	select {
	case err := <-ch:
		if errors.Is(err, raft.ErrLeadershipLost) {
			// A read changes nothing, so a round that lost leadership
			// is as if it had asked a follower: the caller may ask the
			// next leader.
			return n.notLeader(r)
		}
		if err != nil {
			return n.mapErr(r, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.ctx.Done():
		return ErrShuttingDown
	}
}

// stopVerify starts no more rounds; Shutdown calls it before it waits for
// the node's goroutines.
func (n *Node) stopVerify() {
	n.vmu.Lock()
	n.vstopped = true
	n.vmu.Unlock()
}

// runVerify runs rounds of VerifyLeader while callers wait. It ends when
// none is left. A round resolves at the latest when Shutdown closes
// raftDone: raft answers a verify future it has taken when its leadership
// ends, but one still in its queue when it shuts down is never answered,
// and without the binding this goroutine would wait on it for good.
func (n *Node) runVerify(r *raft.Raft) {
	defer n.wg.Done()
	for {
		n.vmu.Lock()
		batch := n.vwaiting
		n.vwaiting = nil
		if len(batch) == 0 {
			n.vrunning = false
			n.vmu.Unlock()
			return
		}
		n.vmu.Unlock()
		f := r.VerifyLeader()
		bindShutdown(f, n.commit.raftDone)
		err := f.Error()
		for _, ch := range batch {
			ch <- err
		}
	}
}

package raftnode

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// ConfirmLeader returns nil once this node leads, has established its
// term, and a quorum has confirmed its leadership in a heartbeat round
// that started after the call (rounds are shared by concurrent callers;
// a single node confirms at once). A lease renewed from the leader's
// memory (lock.Table.RenewInMemory) is stamped before this call: a later
// leader needs a vote from a member of the confirming quorum, cast after
// it confirmed, so it is established after that stamp. *NotLeaderError on a
// follower.
func (n *Node) ConfirmLeader(ctx context.Context) error {
	_, err := n.ReadIndex(ctx)
	return err
}

// proposeLeaderCommands proposes what the subsystems' leader memory has
// due at now (fsm.LeaderExpirer): expiries and checkpoints.
func (n *Node) proposeLeaderCommands(now int64) {
	for _, cmd := range n.fsm.LeaderCommands(now) {
		cmd.AtMs = time.Now().UnixMilli()
		if _, err := n.propose(n.ctx, cmd); err != nil {
			if n.ctx.Err() == nil {
				n.log.Warn("leader command proposal failed", zap.String("subsystem", cmd.Subsystem), zap.Uint16("op", cmd.Op), zap.Error(err))
			}
			return
		}
	}
}

package api

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/lock"
)

// LeaderConfirmer is a Proposer that can confirm, without a log write,
// that it leads (raftnode.Node.ConfirmLeader): a heartbeat round with a
// quorum, started after the call.
type LeaderConfirmer interface {
	ConfirmLeader(ctx context.Context) error
}

// renew answers a quorum renewal. Once the lock table leaves expiry to
// the leader, the leader renews a live lease it holds in memory, with no
// log write: it reads its clock, confirms its leadership, and only then
// extends the lease (lock/checkpoint.go says why that is safe). A lease
// that is not live, or not this request id's, is renewed through the log,
// which answers exactly as before; a lease whose expiry has passed by the
// leader's memory is first expired through the log, so it answers as a
// renewal after its tick did.
func (q *quorumLocks) renew(ctx context.Context, req *lockpb.LockServiceRenewRequest) (*lock.Outcome, *commonpb.Result) {
	c, ok := q.node.(LeaderConfirmer)
	if !ok || !q.t.LeaderDecided() {
		return ProposeEach[*lock.Outcome](ctx, q.node, lock.Name, lock.OpRenew, req)
	}
	at := lockNowMs()
	if err := c.ConfirmLeader(ctx); err != nil {
		return nil, FromError(err)
	}
	o, how := q.t.RenewInMemory(req.GetLeaseId(), req.GetRequestId(), req.GetLeaseTtlMs(), at)
	switch how {
	case lock.RenewedInMemory:
		return o, nil
	case lock.ExpireThenRenew:
		if r := q.expire(ctx, req.GetLeaseId()); r != nil {
			return nil, r
		}
	}
	return ProposeEach[*lock.Outcome](ctx, q.node, lock.Name, lock.OpRenew, req)
}

// expire proposes the expiry of the lease leaseID, whose expiry has
// passed by the leader's memory, before an operation that must see it
// ended (as a lazy expiry at apply used to end it).
func (q *quorumLocks) expire(ctx context.Context, leaseID string) *commonpb.Result {
	cmd, ok := q.t.ExpireCommandFor(leaseID)
	if !ok {
		return nil
	}
	return q.proposeExpire(ctx, cmd)
}

func (q *quorumLocks) proposeExpire(ctx context.Context, cmd fsm.Command) *commonpb.Result {
	var err error
	if cp, ok := q.node.(CommandProposer); ok {
		_, err = cp.ProposeCommand(ctx, cmd)
	} else {
		_, err = q.node.Propose(ctx, cmd.Subsystem, cmd.Op, cmd.Payload)
	}
	if err != nil {
		return FromError(err)
	}
	return nil
}

// expireBefore proposes, before a release or an acquisition, the expiry
// of the leases that operation would have seen expire lazily: the lease
// released, or the holders of the keys acquired, whose expiry has passed
// by the leader's memory. The apply of the expiry decides again from the
// log, so a stale answer here costs a no-op entry, never a wrong end.
func (q *quorumLocks) expireBefore(ctx context.Context, leaseID string, keys []string) *commonpb.Result {
	now := lockNowMs()
	if leaseID != "" && q.t.ExpiredInMemory(leaseID, now) {
		return q.expire(ctx, leaseID)
	}
	if ids := q.t.ExpiredOn(keys, now); len(ids) > 0 {
		return q.proposeExpire(ctx, lock.ExpireCommand(ids))
	}
	return nil
}

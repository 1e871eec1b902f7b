package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client is the cluster administration client. It is cheap to create and
// safe for concurrent use.
type Client struct {
	conn *transport.Conn
	rpc  clusterpb.ClusterServiceClient
}

// New returns a cluster client on conn. It touches no network.
func New(conn *transport.Conn) *Client {
	return &Client{conn: conn, rpc: clusterpb.NewClusterServiceClient(conn)}
}

// Member is one server of the cluster.
type Member struct {
	// ID is the node id (its --node-id).
	ID string
	// RaftAddress is where the other nodes reach its raft transport.
	RaftAddress string
	// ClientAddress is where clients reach it; empty until it announced it.
	ClientAddress string
	// Suffrage is "voter", "nonvoter" or "staging".
	Suffrage string
	// Leader is true for the member the answering node believes leads.
	Leader bool
	// StagedAt is when a staging member was staged (the leader's clock);
	// zero for any other.
	StagedAt time.Time
	// Health is the leader's view of the member; nil when the answering
	// node does not lead (only the leader tracks health).
	Health *Health
}

// Health is a member's health as the leader sees it (it asks every member
// for its raft state every 200 ms or so). A staging member is promoted to
// voter once it has been Healthy for the leader's stabilization time
// (Status.Stabilization).
type Health struct {
	// Healthy: the member answered, is in the leader's term, heard from
	// the leader recently, and has applied close to the leader's commit
	// index. The leader itself is healthy.
	Healthy bool
	// LastIndex and AppliedIndex are the member's last log index and the
	// last index its state machines applied, as it last answered.
	LastIndex, AppliedIndex uint64
	// LastContact is how long before it answered the member last heard
	// from the leader; negative when it never answered or never heard.
	LastContact time.Duration
	// HealthyFor is how long it has been healthy without a break; 0 when
	// it is not healthy.
	HealthyFor time.Duration
}

// Status is what one node knows of the cluster.
type Status struct {
	// NodeID is the node that answered; State its raft state ("leader",
	// "follower", "candidate").
	NodeID, State string
	// LeaderID and LeaderAddress name the leader (client address), empty
	// when none is known.
	LeaderID, LeaderAddress string
	// Term is the current raft term.
	Term uint64
	// LastIndex, CommitIndex and AppliedIndex are the answering node's raft
	// log positions: the last entry it holds, the last it knows committed,
	// and the last its state machines applied.
	LastIndex, CommitIndex, AppliedIndex uint64
	// Members lists every member, in configuration order.
	Members []Member
	// LastContact is how long ago the answering node last heard from the
	// leader: 0 on the leader, negative when it never has.
	LastContact time.Duration
	// Stabilization is how long the leader wants a staging member healthy
	// before it promotes it; 0 when the answering node does not lead.
	Stabilization time.Duration
}

// Status asks one node (whichever the connection reaches) what it knows.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*clusterpb.ClusterServiceStatusResponse, error) {
		return c.rpc.Status(ctx, &clusterpb.ClusterServiceStatusRequest{})
	})
	if err != nil {
		return Status{}, err
	}
	st := Status{
		NodeID: resp.NodeId, State: resp.State, LeaderID: resp.LeaderId, LeaderAddress: resp.LeaderAddress,
		Term: resp.Term, LastIndex: resp.LastIndex, CommitIndex: resp.CommitIndex, AppliedIndex: resp.AppliedIndex,
		LastContact: ms(resp.LastContactMs), Stabilization: ms(resp.StabilizationMs),
	}
	for _, m := range resp.Members {
		mb := Member{ID: m.Id, RaftAddress: m.RaftAddress, ClientAddress: m.ClientAddress, Suffrage: m.Suffrage, Leader: m.Leader}
		if m.StagedAtMs != 0 {
			mb.StagedAt = time.UnixMilli(m.StagedAtMs)
		}
		if m.HealthKnown {
			mb.Health = &Health{Healthy: m.Healthy, LastIndex: m.LastIndex, AppliedIndex: m.AppliedIndex,
				LastContact: ms(m.LastContactMs), HealthyFor: ms(m.HealthyForMs)}
		}
		st.Members = append(st.Members, mb)
	}
	return st, nil
}

// ms is a count of milliseconds as a Duration; a negative count (unknown)
// stays negative.
func ms(n int64) time.Duration {
	if n < 0 {
		return -1
	}
	return time.Duration(n) * time.Millisecond
}

// WaitVoter waits until member id is a voter, as the node the connection
// reaches knows it, asking it every poll interval (100 ms), and answers
// that node's Status then. AddVoter returns once a new member is staging;
// the leader promotes it once it has caught up and stayed healthy, and
// WaitVoter is how to wait for that. It fails with ctx's error when ctx
// ends first (naming the member's last suffrage), and with ErrNotFound
// when id is not a member; both are *transport.Error, as every SDK error.
func (c *Client) WaitVoter(ctx context.Context, id string) (Status, error) {
	const poll = 100 * time.Millisecond
	for {
		st, err := c.Status(ctx)
		if err != nil {
			return st, err
		}
		i := slices.IndexFunc(st.Members, func(m Member) bool { return m.ID == id })
		switch {
		case i < 0:
			return st, &transport.Error{Kind: transport.KindServer, Code: transport.CodeNotFound,
				Message: fmt.Sprintf("%q is not a member (as node %s knows it)", id, st.NodeID)}
		case st.Members[i].Suffrage == "voter":
			return st, nil
		}
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			err := transport.MapError(ctx, ctx.Err())
			if e, ok := err.(*transport.Error); ok {
				e.Message += fmt.Sprintf(" while waiting for %q to become a voter (it is still %s)", id, st.Members[i].Suffrage)
			}
			return st, err
		}
	}
}

// AddVoter adds a member that is to vote, with node id and raft address;
// the client address is optional (the node announces it when it starts).
// The member is staged: added as a non-voter (Suffrage "staging") that
// catches up from the leader, by snapshot install when the log it needs
// is gone, and that the leader promotes to voter once it has caught up
// and stayed healthy for the stabilization time. AddVoter returns once the
// member is staged; WaitVoter waits for the promotion. Asked of a
// non-voter, it stages it the same way. Re-adding a voter (or a staging
// member) as it is changes nothing. A bad id or address,
// an id already used at another address, or the leader's own id is
// refused with ErrInvalidArgument, changing nothing.
func (c *Client) AddVoter(ctx context.Context, id, raftAddress, clientAddress string) error {
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*clusterpb.ClusterServiceAddVoterResponse, error) {
		return c.rpc.AddVoter(ctx, &clusterpb.ClusterServiceAddVoterRequest{Id: id, RaftAddress: raftAddress, ClientAddress: clientAddress})
	})
	return err
}

// AddNonvoter adds a member that receives the log but does not vote, and
// is never promoted; asked of a staging member, it cancels the promotion.
// Refusals are AddVoter's.
func (c *Client) AddNonvoter(ctx context.Context, id, raftAddress, clientAddress string) error {
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*clusterpb.ClusterServiceAddNonvoterResponse, error) {
		return c.rpc.AddNonvoter(ctx, &clusterpb.ClusterServiceAddNonvoterRequest{Id: id, RaftAddress: raftAddress, ClientAddress: clientAddress})
	})
	return err
}

// RemoveServer removes the member id. An unknown id is ErrNotFound;
// removing the last voter is refused with ErrInvalidArgument.
func (c *Client) RemoveServer(ctx context.Context, id string) error {
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*clusterpb.ClusterServiceRemoveServerResponse, error) {
		return c.rpc.RemoveServer(ctx, &clusterpb.ClusterServiceRemoveServerRequest{Id: id})
	})
	return err
}

// TransferLeadership hands leadership to the voter id ("" lets raft pick
// the most up-to-date voter) and returns the new leader's id when known.
// An unknown id is ErrNotFound; a non-voter ErrInvalidArgument.
func (c *Client) TransferLeadership(ctx context.Context, id string) (string, error) {
	resp, err := transport.Call(ctx, c.conn, transport.Once, func(ctx context.Context) (*clusterpb.ClusterServiceTransferLeadershipResponse, error) {
		return c.rpc.TransferLeadership(ctx, &clusterpb.ClusterServiceTransferLeadershipRequest{Id: id})
	})
	if err != nil {
		return "", err
	}
	return resp.LeaderId, nil
}

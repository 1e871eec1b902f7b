package cluster

import (
	"context"

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
	}
	for _, m := range resp.Members {
		st.Members = append(st.Members, Member{ID: m.Id, RaftAddress: m.RaftAddress, ClientAddress: m.ClientAddress, Suffrage: m.Suffrage, Leader: m.Leader})
	}
	return st, nil
}

// AddVoter adds a voting member with node id and raft address; the client
// address is optional (the node announces it when it starts). The node
// catches up from the leader, by snapshot install when the log it needs is
// gone. Re-adding a voter as it is changes nothing. A bad id or address,
// an id already used at another address, or the leader's own id is
// refused with ErrInvalidArgument, changing nothing.
func (c *Client) AddVoter(ctx context.Context, id, raftAddress, clientAddress string) error {
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*clusterpb.ClusterServiceAddVoterResponse, error) {
		return c.rpc.AddVoter(ctx, &clusterpb.ClusterServiceAddVoterRequest{Id: id, RaftAddress: raftAddress, ClientAddress: clientAddress})
	})
	return err
}

// AddNonvoter adds a member that receives the log but does not vote, as
// AddVoter does.
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

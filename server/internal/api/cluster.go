package api

import (
	"context"
	"fmt"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/cluster"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// MaxBootstrapLen bounds an announced bootstrap list.
const MaxBootstrapLen = 16 << 10

// ClusterNode is what the cluster service needs of the raft node;
// *raftnode.Node implements it.
type ClusterNode interface {
	NodeID() string
	Status() raftnode.Status
	Members() ([]raftnode.Member, error)
	Leader() (id, clientAddr string)
	ReadIndex(ctx context.Context) (uint64, error)
	AddVoter(ctx context.Context, id, addr string) error
	AddNonvoter(ctx context.Context, id, addr string) error
	RemoveServer(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) (string, error)
}

// ClusterService serves clusterpb.ClusterService. Status answers what this
// node knows; the membership changes run on the leader (the server
// forwards them there like every write), and announcements are proposed
// to the cluster state machine.
type ClusterService struct {
	clusterpb.UnimplementedClusterServiceServer
	m      *cluster.Machine
	node   ClusterNode
	d      Deps
	health func() (map[string]MemberHealth, time.Duration, bool)
}

// MemberHealth is one member's health as the leader's promoter sees it.
type MemberHealth struct {
	Healthy                 bool
	LastIndex, AppliedIndex uint64
	// LastContactMs: how long ago it last heard from the leader, as it
	// answered; -1 unknown.
	LastContactMs int64
	// HealthyFor: how long it has been healthy without a break.
	HealthyFor time.Duration
}

// SetHealth gives Status the leader's view of its members' health: f
// answers it, with the stabilization time, and ok false when this node
// does not track it (it does not lead). Call it before serving.
func (s *ClusterService) SetHealth(f func() (map[string]MemberHealth, time.Duration, bool)) {
	s.health = f
}

// NewClusterService returns the service over m and node.
func NewClusterService(m *cluster.Machine, node ClusterNode, d Deps) *ClusterService {
	return &ClusterService{m: m, node: node, d: d}
}

// Status implements clusterpb.ClusterServiceServer.
func (s *ClusterService) Status(context.Context, *clusterpb.ClusterServiceStatusRequest) (*clusterpb.ClusterServiceStatusResponse, error) {
	st := s.node.Status()
	lid, laddr := s.node.Leader()
	resp := &clusterpb.ClusterServiceStatusResponse{
		Result: result.OK(), NodeId: s.node.NodeID(), State: st.State, LeaderId: lid, LeaderAddress: laddr,
		Term: st.Term, LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.Apply,
		LastContactMs: st.LastContactMs,
	}
	members, err := s.node.Members()
	if err != nil {
		resp.Result = FromError(err)
		return resp, nil
	}
	var health map[string]MemberHealth
	known := false
	if s.health != nil {
		var stable time.Duration
		if health, stable, known = s.health(); known {
			resp.StabilizationMs = stable.Milliseconds()
		}
	}
	staged := map[string]cluster.Staged{}
	for _, st := range s.m.Staged() {
		staged[st.ID] = st
	}
	for _, m := range members {
		cm := &clusterpb.ClusterMember{
			Id: m.ID, RaftAddress: m.RaftAddr, ClientAddress: s.m.ClientAddr(m.ID), Suffrage: m.Suffrage, Leader: m.ID == lid,
			LastContactMs: -1,
		}
		if st, ok := staged[m.ID]; ok && m.Suffrage == "nonvoter" {
			cm.Suffrage, cm.StagedAtMs = "staging", st.AtMs
		}
		if h, ok := health[m.ID]; known && ok {
			cm.HealthKnown, cm.Healthy, cm.LastIndex, cm.AppliedIndex = true, h.Healthy, h.LastIndex, h.AppliedIndex
			cm.LastContactMs, cm.HealthyForMs = h.LastContactMs, h.HealthyFor.Milliseconds()
		}
		resp.Members = append(resp.Members, cm)
	}
	return resp, nil
}

// memberSuffrage is id's raft suffrage, "" for a server not in the
// configuration.
func (s *ClusterService) memberSuffrage(id string) (string, error) {
	members, err := s.node.Members()
	if err != nil {
		return "", err
	}
	for _, m := range members {
		if m.ID == id {
			return m.Suffrage, nil
		}
	}
	return "", nil
}

// stage records the intent to promote id, at raft address addr.
func (s *ClusterService) stage(ctx context.Context, id, addr string) *commonpb.Result {
	_, r := ProposeEach[*clusterpb.ClusterServiceAddVoterResponse](ctx, s.d.Node, cluster.Name, cluster.OpStage,
		&clusterpb.ClusterServiceAddVoterRequest{Id: id, RaftAddress: addr})
	return r
}

// Unstage clears the intent to promote id, if any.
func (s *ClusterService) Unstage(ctx context.Context, id string) *commonpb.Result {
	if !s.m.IsStaged(id) {
		return nil
	}
	_, r := ProposeEach[*clusterpb.ClusterServiceRemoveServerResponse](ctx, s.d.Node, cluster.Name, cluster.OpUnstage,
		&clusterpb.ClusterServiceRemoveServerRequest{Id: id})
	return r
}

// announceAfterAdd records a new member's client address when it was given.
func (s *ClusterService) announceAfterAdd(ctx context.Context, id, addr string) *commonpb.Result {
	if addr == "" {
		return nil
	}
	if err := raftnode.CheckAddr("client_address", addr); err != nil {
		return FromError(err)
	}
	_, r := ProposeEach[*clusterpb.ClusterServiceAnnounceResponse](ctx, s.d.Node, cluster.Name, cluster.OpAnnounce,
		&clusterpb.ClusterServiceAnnounceRequest{Id: id, ClientAddress: addr})
	return r
}

// AddVoter implements clusterpb.ClusterServiceServer.
func (s *ClusterService) AddVoter(ctx context.Context, req *clusterpb.ClusterServiceAddVoterRequest) (*clusterpb.ClusterServiceAddVoterResponse, error) {
	if req.ClientAddress != "" {
		if err := raftnode.CheckAddr("client_address", req.ClientAddress); err != nil {
			return &clusterpb.ClusterServiceAddVoterResponse{Result: FromError(err)}, nil
		}
	}
	// A voter stays one (re-adding it as it is changes nothing; another
	// address is refused). Any other server is staged: added as a
	// non-voter (or kept one) with the intent to promote it recorded,
	// which the leader's promoter carries out once it is stable.
	suffrage, err := s.memberSuffrage(req.Id)
	if err != nil {
		return &clusterpb.ClusterServiceAddVoterResponse{Result: FromError(err)}, nil
	}
	if suffrage == "voter" {
		err = s.node.AddVoter(ctx, req.Id, req.RaftAddress)
	} else {
		err = s.node.AddNonvoter(ctx, req.Id, req.RaftAddress)
	}
	if err != nil {
		return &clusterpb.ClusterServiceAddVoterResponse{Result: FromError(err)}, nil
	}
	if suffrage != "voter" {
		if r := s.stage(ctx, req.Id, req.RaftAddress); r != nil {
			return &clusterpb.ClusterServiceAddVoterResponse{Result: r}, nil
		}
	}
	if r := s.announceAfterAdd(ctx, req.Id, req.ClientAddress); r != nil {
		return &clusterpb.ClusterServiceAddVoterResponse{Result: r}, nil
	}
	return &clusterpb.ClusterServiceAddVoterResponse{Result: result.OK()}, nil
}

// AddNonvoter implements clusterpb.ClusterServiceServer.
func (s *ClusterService) AddNonvoter(ctx context.Context, req *clusterpb.ClusterServiceAddNonvoterRequest) (*clusterpb.ClusterServiceAddNonvoterResponse, error) {
	if req.ClientAddress != "" {
		if err := raftnode.CheckAddr("client_address", req.ClientAddress); err != nil {
			return &clusterpb.ClusterServiceAddNonvoterResponse{Result: FromError(err)}, nil
		}
	}
	if err := s.node.AddNonvoter(ctx, req.Id, req.RaftAddress); err != nil {
		return &clusterpb.ClusterServiceAddNonvoterResponse{Result: FromError(err)}, nil
	}
	// A staging member asked to be a non-voter stays one.
	if r := s.Unstage(ctx, req.Id); r != nil {
		return &clusterpb.ClusterServiceAddNonvoterResponse{Result: r}, nil
	}
	if r := s.announceAfterAdd(ctx, req.Id, req.ClientAddress); r != nil {
		return &clusterpb.ClusterServiceAddNonvoterResponse{Result: r}, nil
	}
	return &clusterpb.ClusterServiceAddNonvoterResponse{Result: result.OK()}, nil
}

// RemoveServer implements clusterpb.ClusterServiceServer.
func (s *ClusterService) RemoveServer(ctx context.Context, req *clusterpb.ClusterServiceRemoveServerRequest) (*clusterpb.ClusterServiceRemoveServerResponse, error) {
	if err := s.node.RemoveServer(ctx, req.Id); err != nil {
		return &clusterpb.ClusterServiceRemoveServerResponse{Result: FromError(err)}, nil
	}
	// A removed member is no longer to be promoted, even if it comes back
	// as a non-voter.
	if r := s.Unstage(ctx, req.Id); r != nil {
		return &clusterpb.ClusterServiceRemoveServerResponse{Result: r}, nil
	}
	return &clusterpb.ClusterServiceRemoveServerResponse{Result: result.OK()}, nil
}

// TransferLeadership implements clusterpb.ClusterServiceServer.
func (s *ClusterService) TransferLeadership(ctx context.Context, req *clusterpb.ClusterServiceTransferLeadershipRequest) (*clusterpb.ClusterServiceTransferLeadershipResponse, error) {
	id, err := s.node.TransferLeadership(ctx, req.Id)
	return &clusterpb.ClusterServiceTransferLeadershipResponse{Result: FromError(err), LeaderId: id}, nil
}

// ReadIndex implements clusterpb.ClusterServiceServer (leader only).
func (s *ClusterService) ReadIndex(ctx context.Context, _ *clusterpb.ClusterServiceReadIndexRequest) (*clusterpb.ClusterServiceReadIndexResponse, error) {
	idx, err := s.node.ReadIndex(ctx)
	return &clusterpb.ClusterServiceReadIndexResponse{Result: FromError(err), ReadIndex: idx}, nil
}

// Announce implements clusterpb.ClusterServiceServer.
func (s *ClusterService) Announce(ctx context.Context, req *clusterpb.ClusterServiceAnnounceRequest) (*clusterpb.ClusterServiceAnnounceResponse, error) {
	if !raftnode.ValidNodeID(req.Id) {
		return &clusterpb.ClusterServiceAnnounceResponse{Result: result.Invalid("id", "want 1..64 characters of [A-Za-z0-9._-]")}, nil
	}
	if req.ClientAddress != "" {
		if err := raftnode.CheckAddr("client_address", req.ClientAddress); err != nil {
			return &clusterpb.ClusterServiceAnnounceResponse{Result: FromError(err)}, nil
		}
	}
	if len(req.Bootstrap) > MaxBootstrapLen {
		return &clusterpb.ClusterServiceAnnounceResponse{Result: result.Invalid("bootstrap", fmt.Sprintf("is %d bytes, limit %d", len(req.Bootstrap), MaxBootstrapLen))}, nil
	}
	resp, r := ProposeEach[*clusterpb.ClusterServiceAnnounceResponse](ctx, s.d.Node, cluster.Name, cluster.OpAnnounce, req)
	if r != nil {
		return &clusterpb.ClusterServiceAnnounceResponse{Result: r}, nil
	}
	return resp, nil
}

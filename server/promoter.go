package server

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/api"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/cluster"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
)

// The promoter's tunables that are not in Config.
const (
	// promoteInterval is how often the leader asks every member for its
	// raft state and promotes the staging members that are stable.
	promoteInterval = 200 * time.Millisecond
	// promoteMaxLag is how many entries a member's applied index may
	// trail the leader's commit index and still be healthy.
	promoteMaxLag = 256
	// defaultPromotionStabilization is Config.PromotionStabilization's
	// default.
	defaultPromotionStabilization = 2 * time.Second
)

// promoter runs on the leader only: it tracks each member's health (from
// the member's own Cluster.Status, asked over the router's internal
// connections) and promotes a staging member, one that AddVoter added as a
// non-voter with the intent to promote it recorded in the cluster state
// machine, once it has been healthy for the stabilization time. The intent
// is replicated, so a new leader picks up where the old one stopped. It
// never removes a member: nothing here can tell a dead server from a
// partitioned one (docs/DESIGN.md, "Membership").
type promoter struct {
	s            *Server
	stable       time.Duration // how long a member must stay healthy
	contactLimit time.Duration // how stale a member's last contact may be

	mu      sync.Mutex
	leading bool // the health below is this leader's current view
	health  map[string]*memberHealth
}

type memberHealth struct {
	api.MemberHealth
	since time.Time // when it became healthy; zero while it is not
}

func newPromoter(s *Server) *promoter {
	return &promoter{
		s:            s,
		stable:       s.cfg.PromotionStabilization,
		contactLimit: 2 * max(s.cfg.ElectionTimeout, raftnode.DefaultElectionTimeout, s.cfg.HeartbeatTimeout),
		health:       map[string]*memberHealth{},
	}
}

// view answers Status's health: a copy of the members' health, the
// stabilization time, and whether this node tracks it (it leads).
func (p *promoter) view() (map[string]api.MemberHealth, time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.leading {
		return nil, p.stable, false
	}
	out := make(map[string]api.MemberHealth, len(p.health))
	now := time.Now()
	for id, h := range p.health {
		mh := h.MemberHealth
		if !h.since.IsZero() {
			mh.HealthyFor = now.Sub(h.since)
		}
		out[id] = mh
	}
	return out, p.stable, true
}

// run is the promoter's one goroutine (in s.bg): it waits until this node
// leads and has established its term, follows the members while it leads,
// forgets what it learned when it no longer does, and ends at Stop.
func (p *promoter) run() {
	defer p.s.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		changed := p.s.node.Changed()
		if p.s.node.Ready() {
			p.lead(ctx)
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
	}
}

// lead follows the members every promoteInterval while this node leads.
func (p *promoter) lead(ctx context.Context) {
	p.mu.Lock()
	p.leading, p.health = true, map[string]*memberHealth{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.leading, p.health = false, map[string]*memberHealth{}
		p.mu.Unlock()
	}()
	tick := time.NewTicker(promoteInterval)
	defer tick.Stop()
	for ctx.Err() == nil && p.s.node.IsLeader() {
		p.round(ctx)
		changed := p.s.node.Changed()
		select {
		case <-tick.C:
		case <-changed: // a lost leadership ends the loop at once
		case <-ctx.Done():
		}
	}
}

// report is what a member answered of its raft state.
type report struct {
	ok                       bool
	term, lastIndex, applied uint64
	lastContactMs            int64
}

// round learns every member's state, updates its health, and promotes
// the stable staging members.
func (p *promoter) round(ctx context.Context) {
	members, err := p.s.node.Members()
	if err != nil {
		return
	}
	self := p.s.node.Status()
	reports := make([]report, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if m.ID == p.s.cfg.NodeID {
			reports[i] = report{ok: true, term: self.Term, lastIndex: self.LastIndex, applied: self.Apply}
			continue
		}
		wg.Go(func() { reports[i] = p.ask(ctx, m.ID) })
	}
	wg.Wait()
	if ctx.Err() != nil || !p.s.node.IsLeader() {
		return
	}
	now := time.Now()
	p.mu.Lock()
	seen := map[string]bool{}
	for i, m := range members {
		seen[m.ID] = true
		rep := reports[i]
		h := p.health[m.ID]
		if h == nil {
			h = &memberHealth{}
			p.health[m.ID] = h
		}
		h.LastContactMs = -1
		if rep.ok {
			h.LastIndex, h.AppliedIndex, h.LastContactMs = rep.lastIndex, rep.applied, rep.lastContactMs
		}
		// The leader's commit index was read before the members answered,
		// so a member that keeps up is never judged behind by the time it
		// took to answer.
		healthy := rep.ok && rep.term == self.Term && rep.applied+promoteMaxLag >= self.CommitIndex &&
			rep.lastContactMs >= 0 && time.Duration(rep.lastContactMs)*time.Millisecond <= p.contactLimit
		switch {
		case healthy && h.since.IsZero():
			h.since = now
		case !healthy:
			h.since = time.Time{}
		}
		h.Healthy = healthy
	}
	for id := range p.health {
		if !seen[id] {
			delete(p.health, id)
		}
	}
	stableSince := map[string]time.Time{}
	for id, h := range p.health {
		stableSince[id] = h.since
	}
	p.mu.Unlock()

	for _, st := range p.s.clusterSM.Staged() {
		var m *raftnode.Member
		for i := range members {
			if members[i].ID == st.ID {
				m = &members[i]
			}
		}
		switch {
		case m == nil || m.Suffrage == "voter" || m.RaftAddr != st.RaftAddr:
			// Removed, already promoted (the intent's clearing was lost to
			// a leader change), or since re-added elsewhere: not to promote.
			p.unstage(ctx, st.ID)
		case !stableSince[st.ID].IsZero() && now.Sub(stableSince[st.ID]) >= p.stable:
			p.promote(ctx, st)
		}
	}
}

// ask asks member id for its raft state over the router's internal
// connection to its client address, as cut by a partition like any call.
func (p *promoter) ask(ctx context.Context, id string) report {
	addr := p.s.clusterSM.ClientAddr(id)
	if addr == "" || p.s.cfg.Faults != nil && p.s.cfg.Faults.CutOut(id) {
		return report{}
	}
	conn, err := p.s.router.conn(addr)
	if err != nil {
		return report{}
	}
	actx, cancel := context.WithTimeout(ctx, max(promoteInterval, p.contactLimit))
	defer cancel()
	resp, err := clusterpb.NewClusterServiceClient(conn).Status(p.s.nodeOutgoing(actx), &clusterpb.ClusterServiceStatusRequest{})
	if err != nil || !resp.GetResult().GetSuccess() || resp.NodeId != id {
		return report{}
	}
	return report{ok: true, term: resp.Term, lastIndex: resp.LastIndex, applied: resp.AppliedIndex, lastContactMs: resp.LastContactMs}
}

// promote makes the staging member st a voter, then clears its intent.
func (p *promoter) promote(ctx context.Context, st cluster.Staged) {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.s.node.AddVoter(pctx, st.ID, st.RaftAddr); err != nil {
		p.s.log.Warn("promoting a staging member failed; will retry", zap.String("id", st.ID), zap.Error(err))
		return
	}
	p.s.log.Info("staging member promoted to voter", zap.String("id", st.ID), zap.String("raft_address", st.RaftAddr),
		zap.Duration("staged_for", time.Since(time.UnixMilli(st.AtMs))))
	p.unstage(pctx, st.ID)
}

func (p *promoter) unstage(ctx context.Context, id string) {
	uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if r := p.s.cluster.Unstage(uctx, id); r != nil && ctx.Err() == nil {
		p.s.log.Debug("clearing a staging intent failed; will retry", zap.String("id", id), zap.String("message", r.GetMessage()))
	}
}

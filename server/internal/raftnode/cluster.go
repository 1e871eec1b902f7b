package raftnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// ErrInvalid wraps a refused membership request or configuration; the
// message names the field and the rule. Nothing was changed.
var ErrInvalid = errors.New("invalid")

// ErrUnknownMember is returned for a node id that is not in the raft
// configuration. Nothing was changed.
var ErrUnknownMember = errors.New("no such member")

// InvalidError is a refused request or configuration; it matches
// ErrInvalid.
type InvalidError struct{ Field, Rule string }

func (e *InvalidError) Error() string        { return e.Field + ": " + e.Rule }
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// MaxNodeIDLen bounds a node id.
const MaxNodeIDLen = 64

// ValidNodeID reports whether id is 1..MaxNodeIDLen characters of
// [A-Za-z0-9._-].
func ValidNodeID(id string) bool {
	if len(id) == 0 || len(id) > MaxNodeIDLen {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// MaxAddrLen bounds an address.
const MaxAddrLen = 256

// errSingle refuses membership changes on a node without a raft network.
var errSingle = invalid("cluster", "this server runs a single node on an in-memory transport, which no other node can reach; start it with a raft listen address (--raft-listen) to change membership")

// CheckAddr checks that addr is host:port with a port in 1..65535.
func CheckAddr(field, addr string) error {
	if len(addr) > MaxAddrLen {
		return invalid(field, "is %d bytes, limit %d", len(addr), MaxAddrLen)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return invalid(field, "%q is not host:port: %v", addr, err)
	}
	if host == "" {
		return invalid(field, "%q has no host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return invalid(field, "%q: port must be 1..65535", addr)
	}
	return nil
}

// ParsePeers parses "id=host:port,id=host:port" (a --bootstrap list).
func ParsePeers(s string) ([]Peer, error) {
	var peers []Peer
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "=")
		if !ok {
			return nil, invalid("bootstrap", "%q: want id=host:port", part)
		}
		peers = append(peers, Peer{ID: id, Addr: addr})
	}
	return peers, nil
}

// BootstrapString is the canonical form of a bootstrap list: sorted
// "id=addr" pairs joined by commas. Every initial voter must have been
// given the same one.
func BootstrapString(peers []Peer) string {
	parts := make([]string, len(peers))
	for i, p := range peers {
		parts[i] = p.ID + "=" + p.Addr
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (cfg Config) validateCluster() error {
	if cfg.RaftBind == "" && cfg.RaftListener == nil && (len(cfg.Bootstrap) > 0 || cfg.Join) {
		return invalid("RaftBind", "a cluster node (Bootstrap or Join) needs a raft address to listen on")
	}
	if cfg.Join && len(cfg.Bootstrap) > 0 {
		return invalid("Join", "a node either bootstraps a new cluster or joins a running one, not both")
	}
	if cfg.RaftBind != "" && cfg.RaftListener == nil {
		if _, _, err := net.SplitHostPort(cfg.RaftBind); err != nil {
			return invalid("RaftBind", "%q is not host:port: %v", cfg.RaftBind, err)
		}
	}
	if cfg.RaftAdvertise != "" {
		if err := CheckAddr("RaftAdvertise", cfg.RaftAdvertise); err != nil {
			return err
		}
	}
	ids, addrs := map[string]bool{}, map[string]string{}
	self := false
	for i, p := range cfg.Bootstrap {
		field := fmt.Sprintf("Bootstrap[%d]", i)
		if !ValidNodeID(p.ID) {
			return invalid(field, "node id %q: want 1..%d characters of [A-Za-z0-9._-]", p.ID, MaxNodeIDLen)
		}
		if err := CheckAddr(field, p.Addr); err != nil {
			return err
		}
		if ids[p.ID] {
			return invalid(field, "node id %q is listed twice", p.ID)
		}
		if other, ok := addrs[p.Addr]; ok {
			return invalid(field, "address %s is listed for both %q and %q", p.Addr, other, p.ID)
		}
		ids[p.ID], addrs[p.Addr] = true, p.ID
		self = self || p.ID == cfg.NodeID
	}
	if len(cfg.Bootstrap) > 0 && !self {
		return invalid("Bootstrap", "this node's id %q is not among the initial voters", cfg.NodeID)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"HeartbeatTimeout", cfg.HeartbeatTimeout}, {"ElectionTimeout", cfg.ElectionTimeout}, {"LeaderLeaseTimeout", cfg.LeaderLeaseTimeout}} {
		if d.v < 0 || d.v > 0 && d.v < 5*time.Millisecond {
			return invalid(d.name, "%v: want 0 (the default) or at least 5ms", d.v)
		}
	}
	return nil
}

// leadership tracks this node's own leadership (from raft's NotifyCh), its
// readiness to serve as leader (established: a barrier and the lease
// re-arm have been applied in its term), the waiters for an applied index,
// and the batching of leadership checks for reads.
type leadership struct {
	notifyCh chan bool

	mu       sync.Mutex
	gen      uint64        // bumps on every change of our own leadership
	leading  bool          // raft told us we lead (gen's value)
	isReady  bool          // leading, and established in gen
	changeCh chan struct{} // closed and replaced on any change, including of the leader
	waiters  []appliedWaiter
	readyBit atomic.Bool
	nwait    atomic.Int32

	vmu      sync.Mutex
	vwaiting []chan error
	vrunning bool
	vstopped bool // Shutdown has begun: no new round starts
}

type appliedWaiter struct {
	index uint64
	ch    chan struct{}
}

func (l *leadership) init() {
	l.notifyCh = make(chan bool, 16)
	l.changeCh = make(chan struct{})
}

// changed returns a channel closed at the next change of leader or
// readiness.
func (l *leadership) changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changeCh
}

func (l *leadership) fireLocked() {
	close(l.changeCh)
	l.changeCh = make(chan struct{})
}

func (l *leadership) ready() bool { return l.readyBit.Load() }

// runLeadership follows raft's leadership notifications and leader
// observations until Shutdown.
func (n *Node) runLeadership(r *raft.Raft, obs *raft.Observer, obsCh <-chan raft.Observation) {
	defer n.wg.Done()
	defer r.DeregisterObserver(obs)
	for {
		select {
		case <-n.ctx.Done():
			return
		case lead := <-n.notifyCh:
			n.mu.Lock()
			n.gen++
			gen := n.gen
			n.leading, n.isReady = lead, false
			n.readyBit.Store(false)
			n.fireLocked()
			n.mu.Unlock()
			if lead {
				n.log.Info("this node leads", zap.String("node_id", n.cfg.NodeID), zap.Uint64("term", currentTerm(r)))
				n.wg.Add(1)
				go n.establish(r, gen)
			} else {
				n.log.Info("this node no longer leads", zap.String("node_id", n.cfg.NodeID))
			}
		case o := <-obsCh:
			if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != "" {
				n.seenLeader.Store(true)
			}
			if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != "" && string(lo.LeaderID) != n.cfg.NodeID {
				n.log.Debug("leader changed", zap.String("leader_id", string(lo.LeaderID)))
			}
			n.mu.Lock()
			n.fireLocked()
			n.mu.Unlock()
		}
	}
}

// establish makes a new leader ready to serve: a barrier applies every
// entry of earlier terms (so reads and the lock table see them), and then
// the lease re-arm is committed, so no lease, visibility or ack deadline
// granted by an earlier leader expires before a full period of this
// leader's clock: its clock may be ahead of the old leader's, and holders
// may not have reached anyone while there was no leader. Only then does
// the ticker expire anything.
func (n *Node) establish(r *raft.Raft, gen uint64) {
	defer n.wg.Done()
	if err := r.Barrier(0).Error(); err != nil {
		n.log.Debug("leadership ended before its barrier", zap.Error(err))
		return
	}
	if _, err := n.propose(n.ctx, fsm.RearmCommand(time.Now().UnixMilli())); err != nil {
		if n.ctx.Err() == nil {
			n.log.Warn("lease re-arm after gaining leadership failed", zap.Error(err))
		}
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.gen == gen && n.leading {
		n.isReady = true
		n.readyBit.Store(true)
		n.fireLocked()
	}
}

// caughtUp reports whether this node has applied what it must before it
// serves, and otherwise a channel closed when that may have changed.
func (n *Node) caughtUp(r *raft.Raft) (bool, <-chan struct{}) {
	n.mu.Lock()
	leading, ready, ch := n.leading, n.isReady, n.changeCh
	n.mu.Unlock()
	if leading || r.State() == raft.Leader {
		return ready, ch
	}
	idx := r.CommitIndex()
	if n.fsm.AppliedIndex() >= idx {
		return true, nil
	}
	return false, n.appliedWaiter(idx)
}

// wakeApplied wakes every waiter whose index has been applied.
func (n *Node) wakeApplied() {
	if n.nwait.Load() == 0 {
		return
	}
	applied := n.fsm.AppliedIndex()
	n.mu.Lock()
	defer n.mu.Unlock()
	kept := n.waiters[:0]
	for _, w := range n.waiters {
		if w.index <= applied {
			close(w.ch)
			n.nwait.Add(-1)
		} else {
			kept = append(kept, w)
		}
	}
	clear(n.waiters[len(kept):])
	n.waiters = kept
}

// appliedWaiter returns a channel closed once index has been applied.
func (n *Node) appliedWaiter(index uint64) <-chan struct{} {
	ch := make(chan struct{})
	n.mu.Lock()
	n.waiters = append(n.waiters, appliedWaiter{index, ch})
	n.nwait.Add(1)
	n.mu.Unlock()
	n.wakeApplied() // it may have been applied before the waiter was added
	return ch
}

func (n *Node) dropWaiter(ch <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, w := range n.waiters {
		if w.ch == ch {
			n.waiters = slices.Delete(n.waiters, i, i+1)
			n.nwait.Add(-1)
			return
		}
	}
}

// SetClientAddrs sets how a node id maps to the client address it serves
// on (the replicated announcements), for NotLeaderError and Leader.
func (n *Node) SetClientAddrs(f func(id string) string) { n.clientAddrs.Store(&f) }

func (n *Node) clientAddr(id string) string {
	if f := n.clientAddrs.Load(); f != nil && id != "" {
		return (*f)(id)
	}
	return ""
}

func (n *Node) notLeader(r *raft.Raft) *NotLeaderError {
	_, id := r.LeaderWithID()
	return &NotLeaderError{LeaderID: string(id), LeaderAddr: n.clientAddr(string(id))}
}

// NodeID is this node's id.
func (n *Node) NodeID() string { return n.cfg.NodeID }

// Leader returns the id and client address of the node this one believes
// leads; empty while none is known. The address is empty until the leader
// has announced it.
func (n *Node) Leader() (id, clientAddr string) {
	r := n.raft.Load()
	if r == nil {
		return "", ""
	}
	_, lid := r.LeaderWithID()
	return string(lid), n.clientAddr(string(lid))
}

// Changed returns a channel closed at the next change of leader, of this
// node's leadership, or of its readiness to serve.
func (n *Node) Changed() <-chan struct{} { return n.changed() }

// Ready reports whether this node leads and has established its term (its
// barrier and lease re-arm are applied): writes and reads can be served.
func (n *Node) Ready() bool { return n.ready() }

// Member is one server of the raft configuration.
type Member struct {
	ID, RaftAddr string
	// Suffrage is "voter", "nonvoter" or "staging".
	Suffrage string
}

// Members returns the latest raft configuration.
func (n *Node) Members() ([]Member, error) {
	r := n.raft.Load()
	if r == nil {
		return nil, ErrNotStarted
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.mapErr(r, err)
	}
	var ms []Member
	for _, s := range f.Configuration().Servers {
		ms = append(ms, Member{ID: string(s.ID), RaftAddr: string(s.Address), Suffrage: strings.ToLower(s.Suffrage.String())})
	}
	return ms, nil
}

// Status is what a node knows of raft.
type Status struct {
	State                               string
	Term, LastIndex, CommitIndex, Apply uint64
	// LastContactMs is how long ago this node last heard from a leader, in
	// milliseconds: 0 on the leader, -1 when it never has.
	LastContactMs int64
}

// Status reports this node's raft state and indexes.
func (n *Node) Status() Status {
	r := n.raft.Load()
	if r == nil {
		return Status{State: "starting"}
	}
	st := Status{
		State:         strings.ToLower(r.State().String()),
		Term:          currentTerm(r),
		LastIndex:     r.LastIndex(),
		CommitIndex:   r.CommitIndex(),
		Apply:         n.fsm.AppliedIndex(),
		LastContactMs: -1,
	}
	switch last := r.LastContact(); {
	case r.State() == raft.Leader:
		st.LastContactMs = 0
	case !last.IsZero():
		st.LastContactMs = time.Since(last).Milliseconds()
	}
	return st
}

func currentTerm(r *raft.Raft) uint64 {
	t, _ := strconv.ParseUint(r.Stats()["term"], 10, 64)
	return t
}

// leaderRaft returns raft when this node leads, else *NotLeaderError.
func (n *Node) leaderRaft() (*raft.Raft, error) {
	r := n.raft.Load()
	if r == nil {
		return nil, ErrNotStarted
	}
	if n.single {
		return nil, errSingle
	}
	if n.stopped.Load() {
		return nil, ErrShuttingDown
	}
	if r.State() != raft.Leader {
		return nil, n.notLeader(r)
	}
	return r, nil
}

func timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// AddVoter adds a voting member (or promotes a non-voter). Re-adding a
// voter with the same address changes nothing. Refused, changing nothing:
// a bad id or address, this node's own id, an id already used at another
// address, or an address used by another id.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	return n.addServer(ctx, id, addr, true)
}

// AddNonvoter adds a member that replicates the log but does not vote.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	return n.addServer(ctx, id, addr, false)
}

func (n *Node) addServer(ctx context.Context, id, addr string, voter bool) error {
	if !ValidNodeID(id) {
		return invalid("id", "%q: want 1..%d characters of [A-Za-z0-9._-]", id, MaxNodeIDLen)
	}
	if err := CheckAddr("raft_address", addr); err != nil {
		return err
	}
	r, err := n.leaderRaft()
	if err != nil {
		return err
	}
	if id == n.cfg.NodeID {
		return invalid("id", "%q is this node itself, already a member", id)
	}
	members, err := n.Members()
	if err != nil {
		return err
	}
	for _, m := range members {
		switch {
		case m.ID == id && m.RaftAddr != addr:
			return invalid("id", "%q is already a member at %s (a duplicate node id?); remove it first", id, m.RaftAddr)
		case m.ID != id && m.RaftAddr == addr:
			return invalid("raft_address", "%s is member %q's address", addr, m.ID)
		case m.ID == id && (m.Suffrage == "voter") == voter && (voter || m.Suffrage == "nonvoter"):
			return nil // already what was asked
		}
	}
	if err := n.ProbePeer(ctx, addr); err != nil {
		return invalid("raft_address", "%s did not pass the peer TLS check, so it could never replicate: %v (a member needs a certificate signed by the cluster's peer CA, --peer-ca)", addr, err)
	}
	var f raft.IndexFuture
	if voter {
		f = r.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout(ctx))
	} else {
		f = r.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout(ctx))
	}
	if err := f.Error(); err != nil {
		return n.mapErr(r, err)
	}
	n.log.Info("member added", zap.String("id", id), zap.String("raft_address", addr), zap.Bool("voter", voter))
	return nil
}

// RemoveServer removes a member. Refused, changing nothing: an unknown id
// (ErrUnknownMember), or the last voter.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if !ValidNodeID(id) {
		return invalid("id", "%q: want 1..%d characters of [A-Za-z0-9._-]", id, MaxNodeIDLen)
	}
	r, err := n.leaderRaft()
	if err != nil {
		return err
	}
	members, err := n.Members()
	if err != nil {
		return err
	}
	found, voters, isVoter := false, 0, false
	for _, m := range members {
		if m.Suffrage == "voter" {
			voters++
		}
		if m.ID == id {
			found, isVoter = true, m.Suffrage == "voter"
		}
	}
	if !found {
		return fmt.Errorf("id: %q: %w", id, ErrUnknownMember)
	}
	if isVoter && voters == 1 {
		return invalid("id", "%q is the last voter; removing it would leave no one to decide anything", id)
	}
	if err := r.RemoveServer(raft.ServerID(id), 0, timeout(ctx)).Error(); err != nil {
		return n.mapErr(r, err)
	}
	n.log.Info("member removed", zap.String("id", id))
	return nil
}

// TransferLeadership hands leadership to the voter id, or with id "" to
// the most up-to-date voter, and returns the new leader's id when known.
// Refused: an unknown id, or a member that does not vote.
func (n *Node) TransferLeadership(ctx context.Context, id string) (string, error) {
	if id != "" && !ValidNodeID(id) {
		return "", invalid("id", "%q: want 1..%d characters of [A-Za-z0-9._-], or empty for any voter", id, MaxNodeIDLen)
	}
	r, err := n.leaderRaft()
	if err != nil {
		return "", err
	}
	var f raft.Future
	if id == "" {
		f = r.LeadershipTransfer()
	} else {
		if id == n.cfg.NodeID {
			return id, nil // already leads
		}
		members, err := n.Members()
		if err != nil {
			return "", err
		}
		i := slices.IndexFunc(members, func(m Member) bool { return m.ID == id })
		if i < 0 {
			return "", fmt.Errorf("id: %q: %w", id, ErrUnknownMember)
		}
		if members[i].Suffrage != "voter" {
			return "", invalid("id", "%q is a %s and cannot lead", id, members[i].Suffrage)
		}
		f = r.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(members[i].RaftAddr))
	}
	if err := f.Error(); err != nil {
		return "", n.mapErr(r, err)
	}
	// The transfer returns once the target was told to start an election;
	// wait (bounded by ctx) until a leader is known again.
	for {
		changed := n.changed()
		_, lid := r.LeaderWithID()
		if lid != "" && string(lid) != n.cfg.NodeID {
			return string(lid), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", nil
		case <-n.ctx.Done():
			return "", ErrShuttingDown
		}
	}
}

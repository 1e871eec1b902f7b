package raftnode

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// Defaults for Config's zero values.
const (
	DefaultTickInterval      = 50 * time.Millisecond
	DefaultSnapshotThreshold = 8192
	DefaultSnapshotInterval  = 2 * time.Minute
	DefaultStartTimeout      = 10 * time.Second
	DefaultProgressInterval  = time.Second
	DefaultNodeID            = "node1"

	// DefaultMaxAppendEntries bounds the entries of one AppendEntries RPC
	// (raft's default is 64). An object chunk is one entry of up to 1 MiB,
	// so this bounds one RPC, and what a follower decodes at once, to
	// 16 MiB; small commands still batch well below it.
	DefaultMaxAppendEntries = 16
	// logCacheEntries is how many of the latest entries the leader keeps
	// in memory to replicate and apply them without reading the log store;
	// logCacheBytes (logcache.go) bounds their bytes.
	logCacheEntries = 32

	// LAN defaults of a cluster's raft timeouts: a follower suspects the
	// leader after one heartbeat timeout without contact (randomised up to
	// twice that), so a dead leader is replaced in well under 2 s.
	DefaultHeartbeatTimeout   = 250 * time.Millisecond
	DefaultElectionTimeout    = 250 * time.Millisecond
	DefaultLeaderLeaseTimeout = 200 * time.Millisecond
)

// Peer is one member of a cluster's raft configuration.
type Peer struct {
	// ID is the node id; Addr its raft transport address (host:port).
	ID, Addr string
}

// Config configures a Node. Zero values mean the documented defaults.
type Config struct {
	// NodeID is this node's raft server ID. Default DefaultNodeID.
	NodeID string
	// DataDir holds the raft log (one bolt file, raft.db) and snapshots
	// (snapshots/). Empty means everything lives in memory and is lost when
	// the node stops.
	DataDir string
	// UnsafeNoFsync skips the fsync after each raft log write: the log
	// survives a process crash (the OS still has the writes) but not a
	// machine crash or power loss. For tests only, as etcd's
	// --unsafe-no-fsync.
	UnsafeNoFsync bool
	// RaftBind is the TCP address the raft transport listens on for its
	// peers (host:port). Empty runs a single node on an in-memory transport,
	// which no other node can reach.
	RaftBind string
	// RaftListener, when set, is the listener the raft transport accepts its
	// peers on, instead of binding RaftBind (which then only documents the
	// address); tests make the listeners of a whole cluster first, to
	// know every address before any node starts.
	RaftListener net.Listener
	// RaftAdvertise is the raft address the other nodes reach this one on,
	// when RaftBind is not reachable as is (a wildcard or a NAT). Default:
	// the bound address.
	RaftAdvertise string
	// Bootstrap lists the initial voters of a fresh cluster, this node among
	// them. Every initial voter must be given the same list. Ignored when
	// the node has state already. Empty with Join false: this node
	// bootstraps as the single voter.
	Bootstrap []Peer
	// Join makes a fresh node start without bootstrapping: it waits to be
	// added by the leader of a running cluster (AddVoter or AddNonvoter).
	Join bool
	// PeerTLS, when set, secures the raft port with mutual TLS (tls.go).
	PeerTLS *PeerTLS
	// WrapTransport, when set, wraps the raft transport; fault injection in
	// tests uses it. The result must keep raft.WithPreVote and
	// raft.WithClose when the transport it wraps has them.
	WrapTransport func(raft.Transport) raft.Transport
	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout are raft's
	// timeouts. Defaults: 20ms each for a single node, which elects itself
	// at once; DefaultHeartbeatTimeout, DefaultElectionTimeout and
	// DefaultLeaderLeaseTimeout (LAN values) in a cluster.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// Logger receives the node's and raft's logs. Default: discard.
	Logger *zap.Logger
	// TickInterval is how often the leader checks whether some subsystem has
	// a deadline due (and then proposes a tick). It bounds how late an expiry
	// can be applied. Default DefaultTickInterval.
	TickInterval time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot make
	// raft take a new one. Default DefaultSnapshotThreshold.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks the threshold. Default
	// DefaultSnapshotInterval; raft refuses values under 5ms.
	SnapshotInterval time.Duration
	// TrailingLogs is how many log entries a snapshot leaves behind, so a
	// follower a little behind catches up from the log rather than by
	// snapshot install. Default raft's, 10240.
	TrailingLogs uint64
	// SnapshotThresholdBytes makes raft take a snapshot once the log
	// entries applied since the last one hold this many bytes, whatever
	// their count. Default DefaultSnapshotThresholdBytes; negative: off.
	SnapshotThresholdBytes int64
	// TrailingBytes sizes the trailing logs by bytes: at each snapshot,
	// TrailingLogs becomes the count of entries of the recent mean size
	// that hold about this many bytes (at least 64, at most TrailingLogs).
	// Default DefaultTrailingBytes; negative: counts only.
	TrailingBytes int64
	// MaxAppendEntries bounds the entries one AppendEntries RPC carries.
	// Default DefaultMaxAppendEntries.
	MaxAppendEntries int
	// StartTimeout bounds how long Start waits for this node to lead. It
	// does not bound restoring the latest snapshot (before the wait) nor
	// replaying the log after it (after leadership): both take as long as
	// the data needs, and Start logs the replay's progress. Default
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// ProgressInterval is how often Start logs how far the log replay has
	// come. Default DefaultProgressInterval.
	ProgressInterval time.Duration

	// onTickCheck, when set, is called after every ticker evaluation on the
	// leader with whether a tick was due; tests use it to count evaluations
	// instead of sleeping.
	onTickCheck func(due bool)
}

// ErrShuttingDown is returned by Propose once the node is stopping or stopped.
var ErrShuttingDown = errors.New("raftnode: shutting down")

// ErrUnavailable wraps raft failures after which a retry may succeed, such
// as a lost leadership: the command may or may not have been applied.
var ErrUnavailable = errors.New("raftnode: unavailable")

// ErrNotStarted is returned by Propose before Start has succeeded.
var ErrNotStarted = errors.New("raftnode: not started")

// NotLeaderError is returned by Propose on a node that is not the leader.
type NotLeaderError struct {
	// LeaderID and LeaderAddr name the current leader when known.
	// LeaderAddr is its client address, as it announced it (see
	// Node.SetClientAddrs); empty while unknown.
	LeaderID, LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "raftnode: not the leader, leader unknown"
	}
	if e.LeaderAddr == "" {
		return fmt.Sprintf("raftnode: not the leader; leader is %s", e.LeaderID)
	}
	return fmt.Sprintf("raftnode: not the leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Node is one raft server driving an fsm.FSM. The life cycle is New, then
// Start (which returns once the node leads and has re-applied its whole
// committed log), then Propose any number of times, then Shutdown.
type Node struct {
	cfg Config
	log *zap.Logger
	fsm *fsm.FSM

	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
	trans  raft.Transport
	closer interface{ Close() error } // the transport's, nil if none
	bolt   *raftboltdb.BoltStore      // nil in memory mode
	single bool                       // in-memory transport: one node only

	clientAddrs atomic.Pointer[func(id string) string]
	seenLeader  atomic.Bool // some leader has been known since Start
	leadership              // cluster.go: leader readiness, read index, apply waiters
	commit      committer   // commit.go: the queue of proposals, committed in groups
	ret         retention   // retention.go: bytes since the last snapshot

	raft    atomic.Pointer[raft.Raft] // set once Start has created raft
	startMu sync.Mutex                // orders Start's creation of raft with Shutdown
	ctx     context.Context           // cancelled by Shutdown; bounds the ticker's proposals
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped atomic.Bool
	once    sync.Once
	stopErr error
}

// New validates cfg and opens the stores, but starts nothing: register every
// subsystem with f before calling Start.
func New(cfg Config, f *fsm.FSM) (*Node, error) {
	if cfg.NodeID == "" {
		cfg.NodeID = DefaultNodeID
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if cfg.SnapshotInterval == 0 {
		cfg.SnapshotInterval = DefaultSnapshotInterval
	}
	if cfg.SnapshotInterval < 5*time.Millisecond {
		return nil, fmt.Errorf("raftnode: SnapshotInterval %v is below raft's minimum of 5ms", cfg.SnapshotInterval)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.SnapshotThresholdBytes == 0 {
		cfg.SnapshotThresholdBytes = DefaultSnapshotThresholdBytes
	}
	if cfg.TrailingBytes == 0 {
		cfg.TrailingBytes = DefaultTrailingBytes
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = DefaultProgressInterval
	}
	if err := cfg.validateCluster(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, fsm: f, ret: retention{want: make(chan struct{}, 1)}}
	n.leadership.init()
	n.commit.init()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.openTransport(); err != nil {
		n.cancel()
		return nil, err
	}
	if err := n.openStores(); err != nil {
		n.cancel()
		_ = n.closer.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) raftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(n.cfg.NodeID)
	// A single voter elects itself one heartbeat timeout after start, so
	// small timeouts make start and restart fast. A network needs more.
	hb, el, ll := 20*time.Millisecond, 20*time.Millisecond, 20*time.Millisecond
	if !n.single {
		hb, el, ll = DefaultHeartbeatTimeout, DefaultElectionTimeout, DefaultLeaderLeaseTimeout
	}
	c.HeartbeatTimeout = cmp.Or(n.cfg.HeartbeatTimeout, hb)
	c.ElectionTimeout = cmp.Or(n.cfg.ElectionTimeout, el)
	c.LeaderLeaseTimeout = cmp.Or(n.cfg.LeaderLeaseTimeout, min(ll, c.HeartbeatTimeout))
	c.CommitTimeout = 5 * time.Millisecond
	c.NotifyCh = n.notifyCh
	c.SnapshotThreshold = n.cfg.SnapshotThreshold
	c.SnapshotInterval = n.cfg.SnapshotInterval
	if n.cfg.TrailingLogs > 0 {
		c.TrailingLogs = n.cfg.TrailingLogs
	}
	c.MaxAppendEntries = cmp.Or(n.cfg.MaxAppendEntries, DefaultMaxAppendEntries)
	c.Logger = newRaftHCLog(n.log, &n.seenLeader)
	return c
}

// Start starts raft, bootstraps a fresh node (as the single voter, or with
// the Bootstrap voters), and waits until a leader is known and this node
// has applied what it knows to be committed: on the leader, every entry up
// to a barrier behind its last one, so that everything committed before a
// restart has been re-applied when Start returns. Then it starts the
// leader ticker. A follower's server catches up the rest with a read
// index from the leader (Node.ReadIndex there, WaitApplied here).
//
// Only the wait for a leader is bounded, by StartTimeout. Restoring the
// latest snapshot comes before it and replaying the log after it; both
// take what the data needs, and the replay logs its progress every
// ProgressInterval. Start returns early when ctx ends or Shutdown is called.
func (n *Node) Start(ctx context.Context) error {
	r, existing, err := n.startRaft()
	if err != nil {
		return err
	}
	// raft restored the latest snapshot in NewRaft; the entries after it
	// up to the last one on disk are replayed once a leader commits them.
	from, last := r.AppliedIndex(), r.LastIndex()
	if !existing {
		// The bootstrap configuration is the only entry: nothing to tell.
		from = last
	}
	if err := n.waitLeader(ctx, r); err != nil {
		return err
	}
	if err := n.replay(ctx, r, from, last); err != nil {
		return err
	}
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.stopped.Load() {
		return ErrShuttingDown
	}
	n.wg.Add(2) // under startMu: a Shutdown now waits for both
	go n.runTicker(r)
	go n.runRetention(r)
	n.log.Debug("raft node ready", zap.String("node_id", n.cfg.NodeID), zap.Bool("restored", existing))
	return nil
}

// waitLeader waits, up to StartTimeout, until some node leads.
func (n *Node) waitLeader(ctx context.Context, r *raft.Raft) error {
	lctx, cancel := context.WithTimeout(ctx, n.cfg.StartTimeout)
	defer cancel()
	for {
		changed := n.changed() // before the check, so no change is missed
		_, id := r.LeaderWithID()
		if id != "" {
			return nil
		}
		select {
		case <-changed:
		case <-n.ctx.Done():
			return ErrShuttingDown
		case <-lctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("raftnode: start: %w", ctx.Err())
			}
			return fmt.Errorf("raftnode: no leader within StartTimeout (%v): %w", n.cfg.StartTimeout, lctx.Err())
		}
	}
}

// startRaft creates raft (restoring the latest snapshot) and bootstraps a
// node without state. Holding startMu keeps a concurrent Shutdown from
// missing the raft it creates.
func (n *Node) startRaft() (*raft.Raft, bool, error) {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.stopped.Load() {
		return nil, false, ErrShuttingDown
	}
	if n.raft.Load() != nil {
		return nil, false, errors.New("raftnode: Start called twice")
	}
	conf := n.raftConfig()
	existing, err := raft.HasExistingState(n.logs, n.stable, n.snaps)
	if err != nil {
		return nil, false, fmt.Errorf("raftnode: inspect existing state: %w", err)
	}
	// Bootstrapping only a node without state keeps a restart from
	// rewriting the configuration its log already holds; a joining node
	// waits to be added instead. The configuration is written to the
	// stores before raft starts, so its first election timeout, which a
	// loaded machine can reach before a bootstrap sent to a running raft,
	// never finds a node without peers.
	if !existing && !n.cfg.Join {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: conf.LocalID, Address: n.trans.LocalAddr(),
		}}}
		if len(n.cfg.Bootstrap) > 0 {
			boot.Servers = nil
			for _, p := range n.cfg.Bootstrap {
				boot.Servers = append(boot.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
			}
		}
		if err := raft.BootstrapCluster(conf, n.logs, n.stable, n.snaps, n.trans, boot); err != nil {
			return nil, false, fmt.Errorf("raftnode: bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(conf, appliedFSM{n.fsm, n}, n.logs, n.stable, n.snaps, n.trans)
	if err != nil {
		return nil, false, fmt.Errorf("raftnode: start raft: %w", err)
	}
	n.raft.Store(r)
	n.wg.Add(2)
	go n.runCommitter(r)
	go n.runResolver(r)
	// Registered before Start first looks for a leader, so no change of
	// leader after that look goes unnoticed.
	obsCh := make(chan raft.Observation, 16)
	obs := raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(obs)
	n.wg.Add(1)
	go n.runLeadership(r, obs, obsCh)
	return r, existing, nil
}

// replay waits, unbounded, until the FSM has applied what this node must
// have before it serves: on the leader every entry up to the barrier its
// leadership begins with; on a follower the commit index it has learned.
// It logs how many of the entries from+1..last have been applied every
// ProgressInterval and at the end.
func (n *Node) replay(ctx context.Context, r *raft.Raft, from, last uint64) error {
	total := last - min(from, last)
	progress := func() uint64 { return min(max(n.fsm.AppliedIndex(), from), last) - min(from, last) }
	start := time.Now()
	if total > 0 {
		n.log.Info("replaying the raft log", zap.Uint64("replayed", progress()), zap.Uint64("entries", total),
			zap.Uint64("from_index", from), zap.Uint64("last_index", last))
	}
	t := time.NewTicker(n.cfg.ProgressInterval)
	defer t.Stop()
	for {
		done, wait := n.caughtUp(r)
		if done {
			level := zap.InfoLevel
			if total == 0 {
				level = zap.DebugLevel
			}
			n.log.Log(level, "raft log replayed", zap.Uint64("replayed", total), zap.Uint64("entries", total),
				zap.Duration("took", time.Since(start)))
			return nil
		}
		select {
		case <-wait:
		case <-t.C:
			n.log.Info("replaying the raft log", zap.Uint64("replayed", progress()), zap.Uint64("entries", total),
				zap.Duration("elapsed", time.Since(start)))
		case <-ctx.Done():
			return fmt.Errorf("raftnode: replaying the log: %w", ctx.Err())
		case <-n.ctx.Done():
			return ErrShuttingDown
		}
	}
}

// appliedFSM wakes the waiters for an applied index (reads behind a read
// index, the replay) after each entry the FSM applies; the FSM itself
// records the index (fsm.FSM.AppliedIndex), because raft's own AppliedIndex
// moves when entries are handed to the FSM, not when it has applied them.
// (Should fsm.FSM ever implement raft.BatchingFSM, this wrapper must wake
// in ApplyBatch too.)
type appliedFSM struct {
	*fsm.FSM
	n *Node
}

func (f appliedFSM) Apply(l *raft.Log) any {
	res := f.FSM.Apply(l)
	f.n.noteApplied(l)
	f.n.wakeApplied()
	return res
}

// Snapshot sizes the trailing logs by bytes as raft takes a snapshot.
func (f appliedFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.n.noteSnapshot()
	return f.FSM.Snapshot()
}

// StoreConfiguration implements raft.ConfigurationStore: raft hands it the
// configuration entries (members added or removed) instead of Apply, and
// they move the applied index too. Without it, the read index of a cluster
// whose last entry is a membership change is never reached until the next
// command: a node joining a quiet cluster never caught up, and every read
// on a follower waited for a write.
func (f appliedFSM) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.FSM.ConfigurationApplied(index)
	f.n.wakeApplied()
}

// Restore wakes the waiters too: an installed snapshot moves the applied
// index past every entry it covers.
func (f appliedFSM) Restore(rc io.ReadCloser) error {
	err := f.FSM.Restore(rc)
	f.n.wakeApplied()
	return err
}

// Propose appends a command for subsystem to the raft log, stamped with this
// leader's clock, waits until it is applied, and returns the subsystem's
// Apply result. A result that is an error is returned as the error.
//
// Errors: *NotLeaderError on a follower; ErrShuttingDown when stopping;
// ErrUnavailable (wrapped) when the outcome is unknown; ctx.Err() when ctx
// ends first, in which case the command may still be applied.
func (n *Node) Propose(ctx context.Context, subsystem string, op uint16, payload []byte) (any, error) {
	return n.propose(ctx, fsm.Command{Subsystem: subsystem, Op: op, AtMs: time.Now().UnixMilli(), Payload: payload})
}

// ProposeOnce is Propose for a mutation with a client-made request id: the
// FSM applies it at most once per id within its window and answers every
// later proposal of the same id with the first answer.
func (n *Node) ProposeOnce(ctx context.Context, subsystem string, op uint16, requestID string, payload []byte) (any, error) {
	return n.propose(ctx, fsm.Command{Subsystem: subsystem, Op: op, AtMs: time.Now().UnixMilli(), RequestID: requestID, Payload: payload})
}

// ProposeCommand is Propose for a whole command (a request id, a fence):
// cmd is stamped with this leader's clock and proposed as it is.
func (n *Node) ProposeCommand(ctx context.Context, cmd fsm.Command) (any, error) {
	cmd.AtMs = time.Now().UnixMilli()
	if cmd.Fence.Key != "" {
		// A lease that has ended by the leader's memory ends in the log
		// before this write, which its fence check then refuses.
		if exp, ok := n.fsm.FenceExpiry(cmd.Fence.Key, cmd.AtMs); ok {
			exp.AtMs = cmd.AtMs
			if _, err := n.propose(ctx, exp); err != nil {
				return nil, err
			}
		}
	}
	return n.propose(ctx, cmd)
}

func (n *Node) propose(ctx context.Context, cmd fsm.Command) (any, error) {
	r := n.raft.Load()
	if r == nil {
		return nil, ErrNotStarted
	}
	if n.stopped.Load() {
		return nil, ErrShuttingDown
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := cmd.Marshal()
	if err != nil {
		return nil, err
	}
	return n.submit(ctx, data)
}

func (n *Node) mapErr(r *raft.Raft, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return n.notLeader(r)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShuttingDown
	default:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
}

// runTicker proposes a tick whenever this node leads and some subsystem has
// a deadline due. Checking NextDeadline first keeps an idle server from
// writing a log entry every interval.
func (n *Node) runTicker(r *raft.Raft) {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if !n.ready() {
			continue
		}
		now := time.Now().UnixMilli()
		// The leader's own expiries first: a lease that ended before a
		// wait did must free its keys before the tick ends that wait.
		n.proposeLeaderCommands(now)
		d := n.fsm.NextDeadline()
		due := d != 0 && d <= now
		if due {
			if _, err := n.propose(n.ctx, fsm.TickCommand(now)); err != nil && n.ctx.Err() == nil {
				n.log.Warn("tick proposal failed", zap.Error(err))
			}
		}
		if n.cfg.onTickCheck != nil {
			n.cfg.onTickCheck(due)
		}
	}
}

// IsLeader reports whether this node currently leads.
func (n *Node) IsLeader() bool {
	r := n.raft.Load()
	return r != nil && r.State() == raft.Leader
}

// Snapshot makes raft take a snapshot now, independent of the threshold.
func (n *Node) Snapshot() error {
	r := n.raft.Load()
	if r == nil {
		return ErrNotStarted
	}
	return r.Snapshot().Error()
}

// Shutdown stops the ticker and raft and closes the stores. Every goroutine
// the node started has ended when it returns. Safe to call more than once.
// It hands leadership to no one: to the other nodes it looks like a crash,
// and they elect a new leader after their election timeout.
func (n *Node) Shutdown() error {
	n.once.Do(func() {
		n.stopped.Store(true)
		n.cancel()
		n.stopVerify()
		n.startMu.Lock() // a Start creating raft or the ticker finishes that first
		r := n.raft.Load()
		n.startMu.Unlock()
		var errs []error
		var shut raft.Future
		if r != nil {
			// Before the wait: a new leader's barrier resolves only when its
			// leadership ends or raft shuts down.
			shut = r.Shutdown()
		}
		// The transport's connections close before raft's shutdown is
		// waited for: a replication goroutine blocked in a pipelined
		// AppendEntries to a peer that does not answer (paused, cut off)
		// ends only when its connection does, and raft waits for it.
		if n.closer != nil {
			errs = append(errs, n.closer.Close())
		}
		if shut != nil {
			errs = append(errs, shut.Error())
		}
		// Raft has stopped: a future it has not resolved now never
		// resolves, and this ends the resolver's wait on it.
		close(n.commit.raftDone)
		n.wg.Wait()
		if n.bolt != nil {
			errs = append(errs, n.bolt.Close())
		}
		n.stopErr = errors.Join(errs...)
	})
	return n.stopErr
}

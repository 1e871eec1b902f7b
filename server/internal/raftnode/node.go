package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
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
)

// Config configures a Node. Zero values mean the documented defaults.
type Config struct {
	// NodeID is this node's raft server ID. Default DefaultNodeID.
	NodeID string
	// DataDir holds the raft log (one bolt file, raft.db) and snapshots
	// (snapshots/). Empty means everything lives in memory and is lost when
	// the node stops.
	DataDir string
	// Peers lists other voters. Cluster mode is not implemented yet: a
	// non-empty Peers makes New fail.
	Peers []string
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
	// LeaderID and LeaderAddr name the current leader when known. LeaderAddr
	// is the raft transport address; mapping it to the leader's client
	// address is the cluster mode's job.
	LeaderID, LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "raftnode: not the leader, leader unknown"
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
	trans  *raft.InmemTransport
	bolt   *raftboltdb.BoltStore // nil in memory mode

	raft    atomic.Pointer[raft.Raft] // set once Start has created raft
	startMu sync.Mutex                // orders Start's creation of raft with Shutdown
	applied atomic.Uint64             // index of the last log entry the FSM applied
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
	if len(cfg.Peers) > 0 {
		return nil, errors.New("raftnode: Peers: cluster mode is not implemented yet; run a single node (no peers)")
	}
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
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = DefaultProgressInterval
	}
	n := &Node{cfg: cfg, log: cfg.Logger, fsm: f}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.openStores(); err != nil {
		n.cancel()
		return nil, err
	}
	// A fixed address (the node ID) keeps the persisted raft configuration
	// valid across restarts, where a random in-memory address would not.
	_, n.trans = raft.NewInmemTransport(raft.ServerAddress(cfg.NodeID))
	return n, nil
}

func (n *Node) openStores() error {
	if n.cfg.DataDir == "" {
		store := raft.NewInmemStore()
		n.logs, n.stable, n.snaps = store, store, raft.NewInmemSnapshotStore()
		return nil
	}
	if err := os.MkdirAll(n.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("raftnode: DataDir: %w", err)
	}
	// bolt locks its file; the timeout turns a second server on the same
	// DataDir into an error instead of a hang.
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(n.cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: 2 * time.Second},
	})
	if err != nil {
		return fmt.Errorf("raftnode: open raft log in DataDir %q: %w", n.cfg.DataDir, err)
	}
	// Only now, with bolt's lock held, is no other server using DataDir, so
	// a snapshot folder still being written can only be a dead one's.
	if err := n.removeAbandonedSnapshots(); err != nil {
		bolt.Close()
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, 2, newHCLog(n.log))
	if err != nil {
		bolt.Close()
		return fmt.Errorf("raftnode: snapshot store in DataDir %q: %w", n.cfg.DataDir, err)
	}
	// The cache spares bolt reads of entries just written, which raft
	// re-reads to replicate and apply them.
	cached, err := raft.NewLogCache(512, bolt)
	if err != nil {
		bolt.Close()
		return err
	}
	n.bolt, n.logs, n.stable, n.snaps = bolt, cached, bolt, snaps
	return nil
}

// snapshotTmpSuffix ends the name of a folder that raft's FileSnapshotStore
// is still writing; it renames the folder when the snapshot is complete.
const snapshotTmpSuffix = ".tmp"

// removeAbandonedSnapshots deletes the snapshot folders a process killed
// mid-snapshot left behind. raft never looks at them again (it lists only
// complete snapshots and reaps only those), so each crash would otherwise
// keep a partial copy of the whole state on disk for good.
func (n *Node) removeAbandonedSnapshots() error {
	dir := filepath.Join(n.cfg.DataDir, "snapshots")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("raftnode: read snapshots in DataDir %q: %w", n.cfg.DataDir, err)
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasSuffix(e.Name(), snapshotTmpSuffix) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		size := dirSize(path)
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("raftnode: remove abandoned snapshot %q: %w", path, err)
		}
		n.log.Info("removed a snapshot folder left by an interrupted snapshot",
			zap.String("path", path), zap.Int64("bytes", size))
	}
	return nil
}

// dirSize is the total size of the files under path, for the log; errors
// only make it smaller.
func dirSize(path string) int64 {
	var total int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

func (n *Node) raftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(n.cfg.NodeID)
	// A single voter elects itself one heartbeat timeout after start, so
	// small timeouts make start and restart fast. They would be too tight
	// for a real network; cluster mode will choose its own.
	c.HeartbeatTimeout = 20 * time.Millisecond
	c.ElectionTimeout = 20 * time.Millisecond
	c.LeaderLeaseTimeout = 20 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = n.cfg.SnapshotThreshold
	c.SnapshotInterval = n.cfg.SnapshotInterval
	c.Logger = newHCLog(n.log)
	return c
}

// Start starts raft, bootstraps a fresh node as the single voter, and waits
// until this node leads and a barrier has passed, so that every entry
// committed before a restart has been re-applied to the FSM when Start
// returns. Then it starts the leader ticker.
//
// Only the wait for leadership is bounded, by StartTimeout. Restoring the
// latest snapshot comes before it and replaying the log after it; both
// take what the data needs, and the replay logs its progress every
// ProgressInterval. Start returns early when ctx ends or Shutdown is called.
func (n *Node) Start(ctx context.Context) error {
	r, existing, err := n.startRaft()
	if err != nil {
		return err
	}
	// raft restored the latest snapshot in NewRaft; the entries after it
	// up to the last one on disk are replayed once this node leads.
	from, last := r.AppliedIndex(), r.LastIndex()

	lctx, cancel := context.WithTimeout(ctx, n.cfg.StartTimeout)
	defer cancel()
	for leader := false; !leader; {
		select {
		case leader = <-r.LeaderCh():
		case <-n.ctx.Done():
			return ErrShuttingDown
		case <-lctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("raftnode: start: %w", ctx.Err())
			}
			return fmt.Errorf("raftnode: no leadership within StartTimeout (%v): %w", n.cfg.StartTimeout, lctx.Err())
		}
	}
	if !existing {
		// The bootstrap configuration is the only entry: nothing to tell.
		from = last
	}
	if err := n.replay(ctx, r, from, last); err != nil {
		return err
	}
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.stopped.Load() {
		return ErrShuttingDown
	}
	n.wg.Add(1) // under startMu: a Shutdown now waits for the ticker
	go n.runTicker(r)
	n.log.Debug("raft node ready", zap.String("node_id", n.cfg.NodeID), zap.Bool("restored", existing))
	return nil
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
	r, err := raft.NewRaft(conf, appliedFSM{n.fsm, &n.applied}, n.logs, n.stable, n.snaps, n.trans)
	if err != nil {
		return nil, false, fmt.Errorf("raftnode: start raft: %w", err)
	}
	n.raft.Store(r)
	// Bootstrapping only a node without state keeps a restart from
	// rewriting the configuration its log already holds.
	if !existing {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: conf.LocalID, Address: n.trans.LocalAddr(),
		}}}
		if err := r.BootstrapCluster(boot).Error(); err != nil {
			return nil, false, fmt.Errorf("raftnode: bootstrap: %w", err)
		}
	}
	return r, existing, nil
}

// replay waits, unbounded, until the FSM has applied every entry up to a
// barrier behind the log's last entry, logging how many of the entries
// from+1..last have been applied every ProgressInterval and at the end.
func (n *Node) replay(ctx context.Context, r *raft.Raft, from, last uint64) error {
	total := last - min(from, last)
	progress := func() uint64 { return min(max(n.applied.Load(), from), last) - min(from, last) }
	start := time.Now()
	if total > 0 {
		n.log.Info("replaying the raft log", zap.Uint64("replayed", progress()), zap.Uint64("entries", total),
			zap.Uint64("from_index", from), zap.Uint64("last_index", last))
	}
	done := make(chan error, 1)
	// The future resolves when the barrier is applied or raft shuts down;
	// Shutdown guarantees the latter, so this goroutine always ends.
	go func() { done <- r.Barrier(0).Error() }()
	t := time.NewTicker(n.cfg.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("raftnode: replaying the log: %w", n.mapErr(r, err))
			}
			level := zap.InfoLevel
			if total == 0 {
				level = zap.DebugLevel
			}
			n.log.Log(level, "raft log replayed", zap.Uint64("replayed", total), zap.Uint64("entries", total),
				zap.Duration("took", time.Since(start)))
			return nil
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

// appliedFSM records the index of each entry it applies, which is what the
// replay's progress counts: raft's own AppliedIndex moves when entries are
// handed to the FSM, not when it has applied them. (Should fsm.FSM ever
// implement raft.BatchingFSM, this wrapper must count in ApplyBatch too.)
type appliedFSM struct {
	*fsm.FSM
	applied *atomic.Uint64
}

func (f appliedFSM) Apply(l *raft.Log) any {
	res := f.FSM.Apply(l)
	f.applied.Store(l.Index)
	return res
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
	var timeout time.Duration // 0: raft waits for the apply queue indefinitely
	if d, ok := ctx.Deadline(); ok {
		if timeout = time.Until(d); timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	f := r.Apply(data, timeout)
	if ctx.Done() == nil {
		err = f.Error()
	} else {
		// ApplyFuture has no channel, so wait in a goroutine. It ends when
		// raft resolves the future, which raft's shutdown guarantees.
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		select {
		case err = <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, n.mapErr(r, err)
	}
	resp := f.Response()
	if e, ok := resp.(error); ok {
		return nil, e
	}
	return resp, nil
}

func (n *Node) mapErr(r *raft.Raft, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		addr, id := r.LeaderWithID()
		return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
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
		if r.State() != raft.Leader {
			continue
		}
		now := time.Now().UnixMilli()
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
func (n *Node) Shutdown() error {
	n.once.Do(func() {
		n.stopped.Store(true)
		n.cancel()
		n.startMu.Lock() // a Start creating raft or the ticker finishes that first
		r := n.raft.Load()
		n.startMu.Unlock()
		n.wg.Wait()
		var errs []error
		if r != nil {
			errs = append(errs, r.Shutdown().Error())
		}
		errs = append(errs, n.trans.Close())
		if n.bolt != nil {
			errs = append(errs, n.bolt.Close())
		}
		n.stopErr = errors.Join(errs...)
	})
	return n.stopErr
}

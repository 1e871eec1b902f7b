package raftnode

import (
	"errors"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// Retention by bytes, beside raft's counts. Raft snapshots after
// SnapshotThreshold entries and keeps TrailingLogs entries after a
// snapshot: counts, which say nothing of the bytes when one entry is a
// 100-byte KV put and the next a 1 MiB object chunk. So the node also
// counts the bytes applied since the last snapshot: past
// SnapshotThresholdBytes it asks raft for a snapshot, and at every
// snapshot it sets raft's TrailingLogs so that the entries kept hold about
// TrailingBytes (at least minTrailingLogs, at most the configured count).
const (
	// DefaultSnapshotThresholdBytes: a snapshot after this many bytes of
	// log entries, whatever their count.
	DefaultSnapshotThresholdBytes = 1 << 30
	// DefaultTrailingBytes: about this many bytes of log entries are kept
	// after a snapshot for followers a little behind.
	DefaultTrailingBytes = 256 << 20
	// raft's own default TrailingLogs, the count's ceiling when none is set.
	defaultTrailingLogs = 10240
	minTrailingLogs     = 64
)

type retention struct {
	bytes, entries atomic.Int64
	want           chan struct{}
}

// noteApplied counts an applied entry; on the FSM goroutine.
func (n *Node) noteApplied(l *raft.Log) {
	b := n.ret.bytes.Add(int64(len(l.Data)))
	n.ret.entries.Add(1)
	if n.cfg.SnapshotThresholdBytes > 0 && b >= n.cfg.SnapshotThresholdBytes {
		select {
		case n.ret.want <- struct{}{}:
		default:
		}
	}
}

// noteSnapshot is called as raft takes a snapshot (on the FSM goroutine,
// before the compaction that follows it): it sizes the trailing logs from
// the mean entry since the last one, and restarts the count.
func (n *Node) noteSnapshot() {
	b, e := n.ret.bytes.Swap(0), n.ret.entries.Swap(0)
	r := n.raft.Load()
	if r == nil || e == 0 || b == 0 || n.cfg.TrailingBytes <= 0 {
		return
	}
	ceiling := n.cfg.TrailingLogs
	if ceiling == 0 {
		ceiling = defaultTrailingLogs
	}
	trailing := min(max(uint64(n.cfg.TrailingBytes/(b/e+1)), minTrailingLogs), ceiling)
	rc := r.ReloadableConfig()
	if rc.TrailingLogs == trailing {
		return
	}
	rc.TrailingLogs = trailing
	if err := r.ReloadConfig(rc); err != nil {
		n.log.Warn("raft: setting trailing logs by bytes", zap.Error(err))
	}
}

// runRetention takes the snapshots noteApplied asks for.
func (n *Node) runRetention(r *raft.Raft) {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.ret.want:
		}
		if n.ret.bytes.Load() < n.cfg.SnapshotThresholdBytes {
			continue // a count-triggered snapshot came first
		}
		err := r.Snapshot().Error()
		switch {
		case err == nil, errors.Is(err, raft.ErrNothingNewToSnapshot):
		case errors.Is(err, raft.ErrRaftShutdown):
			return
		default:
			n.log.Warn("raft: snapshot by bytes failed", zap.Error(err))
		}
	}
}

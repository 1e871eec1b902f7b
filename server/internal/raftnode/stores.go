package raftnode

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

func (n *Node) openStores() error {
	if n.cfg.DataDir == "" {
		store := raft.NewInmemStore()
		n.logs, n.stable, n.snaps = copyingLogStore{store}, store, raft.NewInmemSnapshotStore()
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
		NoSync:      n.cfg.UnsafeNoFsync,
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
	// Large entries (object chunks) go to files beside bolt, out of its
	// mmapped file (blobstore.go).
	blobs, err := openBlobLogStore(bolt, filepath.Join(n.cfg.DataDir, blobDirName), blobThreshold, n.cfg.UnsafeNoFsync)
	if err != nil {
		bolt.Close()
		return err
	}
	// The cache spares reads of entries just written, which raft
	// re-reads to replicate and apply them.
	cached := newLogCache(blobs, logCacheEntries, logCacheBytes)
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

// copyingLogStore stores copies of the entries it is given. raft hands the
// leader's log store a pointer into each entry's apply future, and the
// in-memory store keeps the pointer until the log is compacted: every
// future, and the response it carries (a created consumer's info, a
// lease), stayed alive for thousands of entries after its caller had
// read it. A copy holds only the entry.
type copyingLogStore struct{ *raft.InmemStore }

func (s copyingLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

func (s copyingLogStore) StoreLogs(logs []*raft.Log) error {
	cp := make([]raft.Log, len(logs))
	ptrs := make([]*raft.Log, len(logs))
	for i, l := range logs {
		cp[i] = *l
		ptrs[i] = &cp[i]
	}
	return s.InmemStore.StoreLogs(ptrs)
}

package raftnode

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// A run of big entries makes a snapshot by bytes long before the count
// threshold, and the trailing logs kept after it are sized by bytes.
func TestSnapshotAndTrailingLogsByBytes(t *testing.T) {
	n, _ := startNode(t, Config{DataDir: t.TempDir(), UnsafeNoFsync: true,
		SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, // counts never trigger here
		SnapshotThresholdBytes: 256 << 10, TrailingBytes: 1 << 20})
	r := n.raft.Load()
	big := bytes.Repeat([]byte("x"), 8<<10)
	for i := 0; i < 40; i++ { // 320 KiB: past the 256 KiB threshold
		if _, err := n.Propose(context.Background(), "journal", 1, big); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		snaps, err := n.snaps.List()
		if err != nil {
			t.Fatal(err)
		}
		if len(snaps) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot after 320 KiB of entries with a 256 KiB threshold")
		}
		<-time.After(10 * time.Millisecond)
	}
	// Entries of about 8 KiB: 1 MiB of trailing logs is about 128 of them.
	if got := r.ReloadableConfig().TrailingLogs; got < 100 || got > 140 {
		t.Fatalf("trailing logs %d, want about 128 (1 MiB of 8 KiB entries)", got)
	}
}

// Small entries keep the count: a byte budget that would keep more entries
// never raises the trailing logs above TrailingLogs.
func TestTrailingLogsByBytesStayWithinTheCount(t *testing.T) {
	n, _ := startNode(t, Config{TrailingLogs: 500, TrailingBytes: 1 << 30})
	proposeN(t, n, 0, 10)
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if got := n.raft.Load().ReloadableConfig().TrailingLogs; got != 500 {
		t.Fatalf("trailing logs %d, want the configured 500", got)
	}
}

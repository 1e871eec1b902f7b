package raftnode

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

const testThreshold = 1024

// openTestBlobStore opens bolt and the payload store in dir.
func openTestBlobStore(t *testing.T, dir string) (*blobLogStore, *raftboltdb.BoltStore) {
	t.Helper()
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := openBlobLogStore(bolt, filepath.Join(dir, blobDirName), testThreshold, false)
	if err != nil {
		bolt.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	return s, bolt
}

// payload is entry i's Data: large (a segment) when big, else inline.
func payload(i uint64, big bool, gen byte) []byte {
	n := 100
	if big {
		n = testThreshold + 1 + int(i)*37
	}
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i) ^ byte(j) ^ gen
	}
	return b
}

func entries(from, to uint64, gen byte) []*raft.Log {
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		l := &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: payload(i, i%3 != 0, gen)}
		if i%4 == 0 {
			l.Extensions = fmt.Appendf(nil, "ext%d", i)
		}
		logs = append(logs, l)
	}
	return logs
}

// checkEntries reads from..to and compares them with entries(from, to, gen).
func checkEntries(t *testing.T, s raft.LogStore, from, to uint64, gen byte) {
	t.Helper()
	for _, want := range entries(from, to, gen) {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", want.Index, err)
		}
		if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
			!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) {
			t.Fatalf("GetLog(%d): index %d term %d, %d bytes of data, extensions %q; want %d bytes, extensions %q",
				want.Index, got.Index, got.Term, len(got.Data), got.Extensions, len(want.Data), want.Extensions)
		}
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, blobDirName, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBlobStoreKeepsLargePayloadsOutOfBolt(t *testing.T) {
	dir := t.TempDir()
	s, bolt := openTestBlobStore(t, dir)
	logs := entries(1, 10, 0)
	before := make([][]byte, len(logs))
	for i, l := range logs {
		before[i] = l.Data
	}
	if err := s.StoreLogs(logs[:5]); err != nil {
		t.Fatal(err)
	}
	for _, l := range logs[5:] {
		if err := s.StoreLog(l); err != nil {
			t.Fatal(err)
		}
	}
	// raft keeps handing the entries it stored to the FSM: they must not change.
	for i, l := range logs {
		if !bytes.Equal(l.Data, before[i]) || !bytes.Equal(l.Extensions, entries(l.Index, l.Index, 0)[0].Extensions) {
			t.Fatalf("StoreLogs changed the caller's entry %d", l.Index)
		}
	}
	checkEntries(t, s, 1, 10, 0)
	// bolt holds only references for the large ones.
	for i := uint64(1); i <= 10; i++ {
		var raw raft.Log
		if err := bolt.GetLog(i, &raw); err != nil {
			t.Fatal(err)
		}
		if big := i%3 != 0; big && len(raw.Data) != 0 {
			t.Fatalf("entry %d: bolt holds %d bytes of its large payload", i, len(raw.Data))
		} else if !big && len(raw.Data) != 100 {
			t.Fatalf("entry %d: small entry not inline in bolt (%d bytes)", i, len(raw.Data))
		}
	}
	// 1..5 in one call: one segment (1, 2, 4, 5 large); 7, 8 and 10 one each.
	if got := len(segFiles(t, dir)); got != 4 {
		t.Fatalf("%d segment files, want 4", got)
	}
	var missing raft.Log
	if err := s.GetLog(11, &missing); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog past the end: %v, want ErrLogNotFound", err)
	}
}

func TestBlobStoreDeleteRangeAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, bolt := openTestBlobStore(t, dir)
	for i := uint64(1); i <= 40; i += 4 {
		if err := s.StoreLogs(entries(i, i+3, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(segFiles(t, dir)); got != 10 {
		t.Fatalf("%d segment files, want 10", got)
	}
	// Compaction of the head: segments of 1..12 go, 13..16 stays whole.
	if err := s.DeleteRange(1, 12); err != nil {
		t.Fatal(err)
	}
	if got := len(segFiles(t, dir)); got != 7 {
		t.Fatalf("after compacting 1..12: %d segment files, want 7", got)
	}
	// A new leader's suffix cut inside a segment (33..36), then different
	// entries at the same indices.
	if err := s.DeleteRange(35, 40); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(entries(35, 44, 1)); err != nil {
		t.Fatal(err)
	}
	check := func(s raft.LogStore) {
		t.Helper()
		checkEntries(t, s, 13, 34, 0)
		checkEntries(t, s, 35, 44, 1)
		if first, _ := s.FirstIndex(); first != 13 {
			t.Fatalf("first index %d, want 13", first)
		}
	}
	check(s)

	bolt.Close()
	s2, bolt2 := openTestBlobStore(t, dir)
	check(s2)
	// Compacting past the cut segment removes it: its live range ended at 34.
	if err := s2.DeleteRange(13, 34); err != nil {
		t.Fatal(err)
	}
	if got := len(segFiles(t, dir)); got != 1 {
		t.Fatalf("after compacting 13..34: %d segment files %q, want 1", got, segFiles(t, dir))
	}
	checkEntries(t, s2, 35, 44, 1)
	bolt2.Close()
}

// A crash after a segment is written but before bolt's commit leaves a
// segment nothing refers to; one after bolt deleted entries but before
// their segments were removed leaves segments below the first index. The
// next open removes both and the log reads as committed.
func TestBlobStoreOpenRemovesSegmentsACrashLeft(t *testing.T) {
	dir := t.TempDir()
	s, bolt := openTestBlobStore(t, dir)
	for i := uint64(1); i <= 20; i += 5 {
		if err := s.StoreLogs(entries(i, i+4, 0)); err != nil {
			t.Fatal(err)
		}
	}
	// Written, never committed: the crash came before bolt's transaction.
	orphan := entries(21, 25, 0)
	k := segKey{first: 21, nonce: 7}
	if err := s.writeSegment(filepath.Join(dir, blobDirName, segName(k, 25)), k, orphan); err != nil {
		t.Fatal(err)
	}
	// bolt compacted 1..10, the process died before removing the files.
	if err := bolt.DeleteRange(1, 10); err != nil {
		t.Fatal(err)
	}
	if got := len(segFiles(t, dir)); got != 5 {
		t.Fatalf("%d segment files before the reopen, want 5", got)
	}
	bolt.Close()

	s2, _ := openTestBlobStore(t, dir)
	if got := len(segFiles(t, dir)); got != 2 {
		t.Fatalf("after reopen: %d segment files %q, want the 2 of 11..20", got, segFiles(t, dir))
	}
	checkEntries(t, s2, 11, 20, 0)
	if last, _ := s2.LastIndex(); last != 20 {
		t.Fatalf("last index %d, want 20", last)
	}
	// The uncommitted indices are written again, as raft would.
	if err := s2.StoreLogs(entries(21, 25, 2)); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, s2, 21, 25, 2)
}

// A data dir written before this store (large entries inline in bolt)
// reads unchanged, and new entries after it go to segments.
func TestBlobStoreReadsInlineEntries(t *testing.T) {
	dir := t.TempDir()
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.StoreLogs(entries(1, 10, 0)); err != nil {
		t.Fatal(err)
	}
	bolt.Close()
	s, _ := openTestBlobStore(t, dir)
	checkEntries(t, s, 1, 10, 0)
	if err := s.StoreLogs(entries(11, 20, 0)); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, s, 1, 20, 0)
	if err := s.DeleteRange(1, 15); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, s, 16, 20, 0)
}

func TestBlobStoreCorruptOrMissingPayloadIsAnErrorNamingTheEntry(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestBlobStore(t, dir)
	if err := s.StoreLogs(entries(1, 2, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(entries(3, 5, 0)); err != nil {
		t.Fatal(err)
	}
	files := segFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("%d segment files, want 2", len(files))
	}
	// The first segment holds entries 1 and 2; flip a byte of entry 2's.
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(files[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	err = s.GetLog(2, &l)
	if err == nil || !strings.Contains(err.Error(), "raft log entry 2") || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("GetLog of a corrupted payload: %v, want a checksum error naming entry 2", err)
	}
	checkEntries(t, s, 1, 1, 0) // the rest of the file is intact
	// Truncated: the read comes up short.
	if err := os.Truncate(files[0], 10); err != nil {
		t.Fatal(err)
	}
	if err := s.GetLog(1, &l); err == nil || !strings.Contains(err.Error(), "raft log entry 1") {
		t.Fatalf("GetLog of a truncated payload: %v, want an error naming entry 1", err)
	}
	// Gone: an error naming the entry, not "not found" (bolt still has it).
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	err = s.GetLog(4, &l)
	if err == nil || err == raft.ErrLogNotFound || !strings.Contains(err.Error(), "raft log entry 4") {
		t.Fatalf("GetLog of a missing payload: %v, want an error naming entry 4", err)
	}
	checkEntries(t, s, 3, 3, 0) // a small entry of that range reads
}

// Through the node: large commands on a data dir survive a restart, read
// back from their segments on replay.
func TestRestartReplaysLargeEntries(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	n, _ := startNode(t, cfg)
	big := func(i int) string { return strings.Repeat(fmt.Sprintf("%04d", i), blobThreshold/4+10) }
	for i := range 5 {
		if _, err := n.Propose(context.Background(), "journal", 1, []byte(big(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if len(segFiles(t, dir)) == 0 {
		t.Fatal("no segment files for large entries")
	}
	_, j := startNode(t, cfg)
	got, _, _ := j.snapshot()
	if len(got) != 5 {
		t.Fatalf("replayed %d entries, want 5", len(got))
	}
	for i, e := range got {
		if e != big(i) {
			t.Fatalf("entry %d replayed with %d bytes, differs", i, len(e))
		}
	}
}

package raftnode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/raft"
)

// Large log entries live beside bolt, not in it. raft-boltdb reads its
// file through mmap, so every page of an entry raft reads back (to
// replicate it, to apply it on a follower, to send it to a follower
// behind) stays in the process's resident memory until the log is
// compacted: a 1 GiB object upload raised a server's RSS by hundreds of
// MiB. blobLogStore keeps the payload of every entry larger than its
// threshold in a segment file under DataDir/raft-blobs, read with pread
// (the kernel's page cache, not the process), and stores in bolt the entry
// with no Data and a reference in its Extensions.
//
// One segment file per StoreLogs call holds the payloads of that call's
// large entries, back to back; its name carries the first and last index
// of those entries and a random nonce, so no two segments ever share a
// name. The ordering makes it crash-safe: the segment is written and
// fsynced (and its directory) before the bolt transaction that references
// it commits, and removed only after the bolt transaction that deletes its
// entries commits. So a crash leaves at most segments no entry refers to:
// on open, segments wholly above bolt's LastIndex (written, never
// committed) or below its FirstIndex (compacted, not yet removed) are
// deleted. Each payload's CRC-32C is in its reference and checked on every
// read; a mismatch or a missing segment is an error naming the entry.
//
// Entries written inline before this store existed, and small entries,
// have no reference (nothing else sets Extensions) and read unchanged.
type blobLogStore struct {
	inner     raft.LogStore
	dir       string
	threshold int
	noSync    bool

	mu   sync.RWMutex // guards segs; held shared while a read opens a segment
	segs map[segKey]*segment
}

// segKey names a segment: the index of its first large entry and a nonce.
type segKey struct{ first, nonce uint64 }

// segment is one segment file; lo..hi is the range of indices that may
// still refer to it (narrowed as entries are deleted).
type segment struct {
	path   string
	lo, hi uint64
}

const (
	// blobThreshold: entries with more Data than this go to a segment.
	// Small commands (KV puts, publishes) stay in bolt, one fsync as before.
	blobThreshold = 64 << 10
	blobDirName   = "raft-blobs"
	segSuffix     = ".seg"
)

// blobRefMagic starts a reference in a log entry's Extensions. raft and
// the node never set Extensions otherwise, so an entry without it is an
// inline one.
var blobRefMagic = []byte("wmblob1\x00")

// blobRef layout after the magic: segment first index, nonce, offset,
// length (uint64 each, big endian), CRC-32C (uint32), then the entry's own
// Extensions.
const blobRefLen = 8 + 8*4 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type blobRef struct {
	seg          segKey
	offset, size uint64
	crc          uint32
	ext          []byte
}

func (r blobRef) encode() []byte {
	b := make([]byte, blobRefLen, blobRefLen+len(r.ext))
	copy(b, blobRefMagic)
	binary.BigEndian.PutUint64(b[8:], r.seg.first)
	binary.BigEndian.PutUint64(b[16:], r.seg.nonce)
	binary.BigEndian.PutUint64(b[24:], r.offset)
	binary.BigEndian.PutUint64(b[32:], r.size)
	binary.BigEndian.PutUint32(b[40:], r.crc)
	return append(b, r.ext...)
}

// decodeBlobRef reports whether ext is a reference, and decodes it.
func decodeBlobRef(ext []byte) (blobRef, bool) {
	if len(ext) < blobRefLen || !bytes.Equal(ext[:8], blobRefMagic) {
		return blobRef{}, false
	}
	r := blobRef{
		seg:    segKey{binary.BigEndian.Uint64(ext[8:]), binary.BigEndian.Uint64(ext[16:])},
		offset: binary.BigEndian.Uint64(ext[24:]),
		size:   binary.BigEndian.Uint64(ext[32:]),
		crc:    binary.BigEndian.Uint32(ext[40:]),
	}
	if len(ext) > blobRefLen {
		r.ext = ext[blobRefLen:]
	}
	return r, true
}

func segName(k segKey, hi uint64) string {
	return fmt.Sprintf("%020d-%020d-%016x%s", k.first, hi, k.nonce, segSuffix)
}

// parseSegName is segName's inverse.
func parseSegName(name string) (k segKey, hi uint64, ok bool) {
	parts := strings.Split(strings.TrimSuffix(name, segSuffix), "-")
	if !strings.HasSuffix(name, segSuffix) || len(parts) != 3 {
		return segKey{}, 0, false
	}
	lo, err1 := strconv.ParseUint(parts[0], 10, 64)
	hi, err2 := strconv.ParseUint(parts[1], 10, 64)
	nonce, err3 := strconv.ParseUint(parts[2], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil || lo > hi {
		return segKey{}, 0, false
	}
	return segKey{lo, nonce}, hi, true
}

// openBlobLogStore wraps inner (bolt, already open) with the segment files
// under dir, removing the segments no entry of inner can refer to.
func openBlobLogStore(inner raft.LogStore, dir string, threshold int, noSync bool) (*blobLogStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftnode: raft log payload folder: %w", err)
	}
	first, err := inner.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("raftnode: raft log first index: %w", err)
	}
	last, err := inner.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("raftnode: raft log last index: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("raftnode: read raft log payload folder %q: %w", dir, err)
	}
	s := &blobLogStore{inner: inner, dir: dir, threshold: threshold, noSync: noSync, segs: map[segKey]*segment{}}
	for _, e := range entries {
		k, hi, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue // not ours
		}
		path := filepath.Join(dir, e.Name())
		if last == 0 || k.first > last || hi < first {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("raftnode: remove unreferenced raft log payload %q: %w", path, err)
			}
			continue
		}
		s.segs[k] = &segment{path: path, lo: k.first, hi: hi}
	}
	return s, nil
}

func (s *blobLogStore) FirstIndex() (uint64, error) { return s.inner.FirstIndex() }
func (s *blobLogStore) LastIndex() (uint64, error)  { return s.inner.LastIndex() }

func (s *blobLogStore) GetLog(index uint64, l *raft.Log) error {
	if err := s.inner.GetLog(index, l); err != nil {
		return err
	}
	ref, ok := decodeBlobRef(l.Extensions)
	if !ok {
		return nil
	}
	data, err := s.read(index, ref)
	if err != nil {
		return err
	}
	l.Data, l.Extensions = data, ref.ext
	return nil
}

// read loads and checks one payload.
func (s *blobLogStore) read(index uint64, ref blobRef) ([]byte, error) {
	s.mu.RLock()
	seg := s.segs[ref.seg]
	var f *os.File
	var err error
	if seg != nil {
		f, err = os.Open(seg.path) // under the lock: a DeleteRange removes files only with it held
	}
	s.mu.RUnlock()
	if seg == nil {
		// Its entries were deleted after bolt returned this one: a
		// compaction racing the read, as bolt's own would have answered.
		return nil, raft.ErrLogNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("raftnode: raft log entry %d: open its payload: %w", index, err)
	}
	defer f.Close()
	if ref.size > 1<<40 {
		return nil, fmt.Errorf("raftnode: raft log entry %d: payload length %d in %s is not plausible", index, ref.size, seg.path)
	}
	data := make([]byte, ref.size)
	if _, err := f.ReadAt(data, int64(ref.offset)); err != nil {
		return nil, fmt.Errorf("raftnode: raft log entry %d: read %d bytes at %d of %s: %w", index, ref.size, ref.offset, seg.path, err)
	}
	if got := crc32.Checksum(data, castagnoli); got != ref.crc {
		return nil, fmt.Errorf("raftnode: raft log entry %d: payload in %s fails its checksum (CRC-32C %08x, want %08x): the file is corrupted",
			index, seg.path, got, ref.crc)
	}
	return data, nil
}

func (s *blobLogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s *blobLogStore) StoreLogs(logs []*raft.Log) error {
	large := -1
	for i, l := range logs {
		if len(l.Data) > s.threshold {
			large = i
			break
		}
	}
	if large < 0 {
		return s.inner.StoreLogs(logs)
	}
	// The caller keeps its entries (raft's cache and inflight list hand
	// their Data to the FSM), so the references go into copies.
	out := make([]*raft.Log, len(logs))
	copy(out, logs)
	lo, hi := logs[large].Index, logs[large].Index
	for _, l := range logs[large:] {
		if len(l.Data) > s.threshold {
			lo, hi = min(lo, l.Index), max(hi, l.Index)
		}
	}
	k := segKey{first: lo, nonce: rand.Uint64()}
	path := filepath.Join(s.dir, segName(k, hi))
	if err := s.writeSegment(path, k, out[large:]); err != nil {
		return err
	}
	s.mu.Lock()
	s.segs[k] = &segment{path: path, lo: lo, hi: hi}
	s.mu.Unlock()
	if err := s.inner.StoreLogs(out); err != nil {
		s.mu.Lock()
		delete(s.segs, k)
		s.mu.Unlock()
		_ = os.Remove(path)
		return err
	}
	return nil
}

// writeSegment writes the payloads of the large entries of logs to a new
// file at path, durably, and replaces each such entry in logs by a copy
// holding its reference instead.
func (s *blobLogStore) writeSegment(path string, k segKey, logs []*raft.Log) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("raftnode: create raft log payload file: %w", err)
	}
	fail := func(err error) error {
		f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("raftnode: write raft log payload file %q: %w", path, err)
	}
	var off uint64
	for i, l := range logs {
		if len(l.Data) <= s.threshold {
			continue
		}
		if _, err := f.Write(l.Data); err != nil {
			return fail(err)
		}
		ref := blobRef{seg: k, offset: off, size: uint64(len(l.Data)), crc: crc32.Checksum(l.Data, castagnoli), ext: l.Extensions}
		off += uint64(len(l.Data))
		c := *l
		c.Data, c.Extensions = nil, ref.encode()
		logs[i] = &c
	}
	if !s.noSync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("raftnode: write raft log payload file %q: %w", path, err)
	}
	if !s.noSync {
		if err := syncDir(s.dir); err != nil {
			_ = os.Remove(path)
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("raftnode: sync raft log payload folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("raftnode: sync raft log payload folder %q: %w", dir, err)
	}
	return nil
}

// DeleteRange deletes the entries in bolt first, then the segments no
// remaining entry refers to: a crash in between leaves only segments that
// the next open removes.
func (s *blobLogStore) DeleteRange(lo, hi uint64) error {
	if err := s.inner.DeleteRange(lo, hi); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for k, seg := range s.segs {
		switch {
		case seg.lo >= lo && seg.hi <= hi:
			delete(s.segs, k)
			if err := os.Remove(seg.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("raftnode: remove raft log payload file: %w", err))
			}
		case seg.lo < lo && seg.hi >= lo && seg.hi <= hi:
			// A suffix cut: the rest of its file is dead. The name says so
			// too, so that a reopen sees the same range (a crash before the
			// rename only delays the removal to a later compaction).
			seg.hi = lo - 1
			renamed := filepath.Join(s.dir, segName(k, seg.hi))
			if err := os.Rename(seg.path, renamed); err == nil {
				seg.path = renamed
			}
		case seg.lo >= lo && seg.lo <= hi && seg.hi > hi:
			seg.lo = hi + 1
		}
	}
	return errors.Join(errs...)
}

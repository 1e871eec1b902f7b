package objstore

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
)

// Snapshot layout (integers varint-encoded, "bytes" = uvarint length + data):
//
//	"WMOS" | version:2 | stores | store*  | blobs | blob*
//	store := bytes(config) | createdAt | rev | hole | objects | object*
//	object := bytes(info) | bytes(blob id) | putRev | putAt | expireAt
//	blob := bytes(id) | size
//
// A snapshot refers to blobs by id and holds none of their data: the blob
// files stay where they are (DataDir/objstore/blobs), written and synced
// when their Put committed, so a snapshot costs metadata only and the two
// snapshots raft keeps do not copy every object twice more. A restore on
// the same data dir finds them in place; the log replayed after it deletes
// whatever was deleted since. (Until objects travel through raft, a node
// cannot take another node's snapshot with its objects.)
//
// The change log of watchers is not in the snapshot: hole is set so that,
// restored without it, no watch resumes across a change that is lost.
//
// Version 1 snapshots, written by older servers, have no hole (they
// restore with one at rev) and carry the blob data after the metadata
// (blob := bytes(id) | size | size raw bytes); Restore still reads them.
const (
	snapMagic       = "WMOS"
	snapVersion     = 2
	snapVersionData = 1
)

type snapObject struct {
	info            *objstorepb.ObjectInfo
	blob            string
	putRev          uint64
	putAt, expireAt int64
}

type snapStore struct {
	cfg       *objstorepb.ObjectStoreConfig
	createdAt int64
	rev       uint64
	hole      uint64
	objects   []snapObject
}

type snapBlob struct {
	id   string
	size int64
}

// Snapshot implements fsm.Subsystem. It copies the metadata (infos are
// immutable, so this copies pointers) and pins the blobs: while the writer
// runs, blobs dropped by apply are removed only afterwards, so every blob
// the snapshot names exists at least until it is written.
func (m *Machine) Snapshot() (func(w io.Writer) error, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// raft runs one snapshot at a time; a pin still held here belongs to
	// a writer that was never run (an earlier part of the snapshot failed).
	m.unpinLocked()
	var stores []snapStore
	var blobs []snapBlob
	names := make([]string, 0, len(m.stores))
	for n := range m.stores {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := m.stores[n]
		ss := snapStore{cfg: s.cfg, createdAt: s.createdAt, rev: s.rev, hole: s.restoredHole(), objects: make([]snapObject, 0, len(s.objects))}
		for _, o := range s.objects {
			ss.objects = append(ss.objects, snapObject{info: o.info, blob: o.blob, putRev: o.putRev, putAt: o.putAt, expireAt: o.expireAt})
			if o.blob != "" {
				blobs = append(blobs, snapBlob{id: o.blob, size: o.info.GetSize()})
			}
		}
		stores = append(stores, ss)
	}
	m.pinned = true
	return func(w io.Writer) error {
		defer m.unpin()
		return m.writeSnapshot(w, stores, blobs)
	}, nil
}

func (m *Machine) unpin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unpinLocked()
}

func (m *Machine) unpinLocked() {
	m.pinned = false
	for _, id := range m.deferred {
		if _, ok := m.refs[id]; !ok {
			m.blobs.remove(id)
		}
	}
	m.deferred = nil
}

type snapWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func (s *snapWriter) uvarint(v uint64) {
	s.buf = binary.AppendUvarint(s.buf[:0], v)
	s.write(s.buf)
}

func (s *snapWriter) varint(v int64) {
	s.buf = binary.AppendVarint(s.buf[:0], v)
	s.write(s.buf)
}

func (s *snapWriter) bytes(b []byte) {
	s.uvarint(uint64(len(b)))
	s.write(b)
}

func (s *snapWriter) msg(m proto.Message) {
	b, err := proto.Marshal(m)
	if err != nil && s.err == nil {
		s.err = err
	}
	s.bytes(b)
}

func (s *snapWriter) write(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (m *Machine) writeSnapshot(w io.Writer, stores []snapStore, blobs []snapBlob) error {
	sw := &snapWriter{w: bufio.NewWriterSize(w, 64<<10)}
	sw.write([]byte(snapMagic))
	sw.write([]byte{snapVersion})
	sw.uvarint(uint64(len(stores)))
	for _, s := range stores {
		sw.msg(s.cfg)
		sw.varint(s.createdAt)
		sw.uvarint(s.rev)
		sw.uvarint(s.hole)
		sw.uvarint(uint64(len(s.objects)))
		for _, o := range s.objects {
			sw.msg(o.info)
			sw.bytes([]byte(o.blob))
			sw.uvarint(o.putRev)
			sw.varint(o.putAt)
			sw.varint(o.expireAt)
		}
	}
	sw.uvarint(uint64(len(blobs)))
	for _, b := range blobs {
		sw.bytes([]byte(b.id))
		sw.uvarint(uint64(b.size))
	}
	if sw.err != nil {
		return sw.err
	}
	return sw.w.Flush()
}

type snapReader struct {
	r   *bufio.Reader
	err error
}

func (s *snapReader) uvarint() uint64 {
	if s.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(s.r)
	s.err = err
	return v
}

func (s *snapReader) varint() int64 {
	if s.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(s.r)
	s.err = err
	return v
}

func (s *snapReader) bytes(max uint64) []byte {
	n := s.uvarint()
	if s.err != nil {
		return nil
	}
	if n > max {
		s.err = fmt.Errorf("objstore: snapshot field of %d bytes exceeds %d", n, max)
		return nil
	}
	b := make([]byte, n)
	_, s.err = io.ReadFull(s.r, b)
	return b
}

func (s *snapReader) msg(m proto.Message) {
	b := s.bytes(64 << 20)
	if s.err == nil {
		s.err = proto.Unmarshal(b, m)
	}
}

// Restore implements fsm.Subsystem. Blob files that already hold a
// blob's data are kept; blobs the restored state does not refer to are
// left for the sweep the service runs once the log has been replayed
// (later log entries may still adopt them).
func (m *Machine) Restore(r io.Reader) error {
	stores, refs, exp, err := m.readSnapshot(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.stores, m.refs, m.exp = stores, refs, exp
	m.pinned, m.deferred = false, nil
	m.mu.Unlock()
	m.notify.FireAll()
	return nil
}

func (m *Machine) readSnapshot(r io.Reader) (map[string]*store, map[string]struct{}, expiryHeap, error) {
	stores := map[string]*store{}
	refs := map[string]struct{}{}
	var exp expiryHeap
	br := bufio.NewReaderSize(r, 64<<10)
	var magic [len(snapMagic) + 1]byte
	n, err := io.ReadFull(br, magic[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return stores, refs, exp, nil // empty state
	}
	if err != nil || string(magic[:len(snapMagic)]) != snapMagic || (magic[len(snapMagic)] != snapVersion && magic[len(snapMagic)] != snapVersionData) {
		return nil, nil, nil, errors.New("objstore: not an object store snapshot of a known version")
	}
	version := magic[len(snapMagic)]
	sr := &snapReader{r: br}
	nStores := sr.uvarint()
	for i := uint64(0); i < nStores && sr.err == nil; i++ {
		s := &store{cfg: &objstorepb.ObjectStoreConfig{}, objects: map[string]*object{}}
		sr.msg(s.cfg)
		s.createdAt = sr.varint()
		s.rev = sr.uvarint()
		s.hole = s.rev
		if version >= 2 {
			s.hole = sr.uvarint()
		}
		nObj := sr.uvarint()
		for j := uint64(0); j < nObj && sr.err == nil; j++ {
			o := &object{info: &objstorepb.ObjectInfo{}}
			sr.msg(o.info)
			o.blob = string(sr.bytes(64))
			o.putRev = sr.uvarint()
			o.putAt = sr.varint()
			o.expireAt = sr.varint()
			if sr.err != nil {
				break
			}
			s.objects[o.info.GetName()] = o
			if !o.info.GetDeleted() {
				s.live++
				s.bytes += o.info.GetSize()
			}
			if o.blob != "" {
				refs[o.blob] = struct{}{}
			}
			if o.expireAt != 0 {
				exp = append(exp, expiry{at: o.expireAt, store: s.cfg.GetName(), name: o.info.GetName(), rev: o.info.GetRevision()})
			}
		}
		stores[s.cfg.GetName()] = s
	}
	nBlobs := sr.uvarint()
	for i := uint64(0); i < nBlobs && sr.err == nil; i++ {
		id := string(sr.bytes(64))
		size := sr.uvarint()
		if sr.err != nil {
			break
		}
		if !validBlobID(id) {
			sr.err = fmt.Errorf("objstore: snapshot holds a bad blob id")
			break
		}
		if version == snapVersionData {
			sr.err = m.blobs.restore(id, int64(size), br)
		}
	}
	if sr.err != nil {
		return nil, nil, nil, fmt.Errorf("objstore: restore: %w", sr.err)
	}
	heap.Init(&exp)
	return stores, refs, exp, nil
}

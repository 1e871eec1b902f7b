package objstore

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
)

// Snapshot layout (integers varint-encoded, "bytes" = uvarint length + data,
// crc = 4 bytes big-endian):
//
//	"WMOS" | version:3 | stores | store* | uploads | upload* | blobs | blob*
//	store := bytes(config) | createdAt | rev | hole | objects | object*
//	object := bytes(info) | bytes(blob id) | putRev | putAt | expireAt | crcs | crc*
//	upload := bytes(blob id) | chunkSize | lastAt | chunks | (len | crc)*   (len 0: not arrived)
//	blob := bytes(id) | chunks | (index | bytes(data) | crc)*
//
// The metadata comes first, then every referenced blob's data (committed
// versions' and pending uploads'), chunk by chunk, streamed from the blob
// store by the writer on raft's snapshot goroutine: a node that installs
// the snapshot gets every object, and the writer never holds more than a
// chunk. Each chunk's checksum is verified when the snapshot is written
// (a corrupt local chunk fails the snapshot, naming the object, rather than
// spreading) and when it is restored. An object with no crcs was stored by
// an older server, unchecked.
//
// The change log of watchers is not in the snapshot: hole is set so that,
// restored without it, no watch resumes across a change that is lost.
//
// Older versions still restore: 2 (no uploads, objects without crcs, blobs
// by id and size only, their data left in the data dir) and 1 (no hole;
// blob := bytes(id) | size | size raw bytes).
const (
	snapMagic       = "WMOS"
	snapVersion     = 3
	snapVersionRefs = 2
	snapVersionData = 1
)

type snapObject struct {
	info            *objstorepb.ObjectInfo
	blob            string
	putRev          uint64
	putAt, expireAt int64
	crcs            []uint32
}

type snapStore struct {
	cfg       *objstorepb.ObjectStoreConfig
	createdAt int64
	rev       uint64
	hole      uint64
	objects   []snapObject
}

type snapUpload struct {
	id     string
	cs     int64
	lastAt int64
	lens   []int32
	crcs   []uint32
}

// snapBlob is a blob whose data the writer streams: name (the object's, for
// errors), chunk size, and its chunks' lengths and checksums (crcs nil: an
// unchecked legacy blob of size bytes).
type snapBlob struct {
	id, name string
	cs, size int64
	lens     []int32
	crcs     []uint32
}

// chunks lists the blob's present chunks as (index, length).
func (b *snapBlob) each(fn func(k, n int64) error) error {
	if b.lens != nil {
		for k, n := range b.lens {
			if n > 0 {
				if err := fn(int64(k), int64(n)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for k := int64(0); k*b.cs < b.size; k++ {
		if err := fn(k, min(b.cs, b.size-k*b.cs)); err != nil {
			return err
		}
	}
	return nil
}

func (b *snapBlob) count() int {
	n := 0
	_ = b.each(func(int64, int64) error { n++; return nil })
	return n
}

// Snapshot implements fsm.Subsystem. It copies the metadata (infos and
// committed checksums are immutable, so this copies pointers; a pending
// upload's tables are copied) and pins the blobs: while the writer runs,
// blobs dropped by apply are removed only afterwards, so every blob the
// snapshot names exists at least until it is written.
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
			ss.objects = append(ss.objects, snapObject{info: o.info, blob: o.blob, putRev: o.putRev, putAt: o.putAt, expireAt: o.expireAt, crcs: o.crcs})
			if o.blob != "" {
				blobs = append(blobs, snapBlob{id: o.blob, name: o.info.GetName(), cs: int64(o.info.GetChunkSize()), size: o.info.GetSize(), crcs: o.crcs})
			}
		}
		stores = append(stores, ss)
	}
	ids := make([]string, 0, len(m.uploads))
	for id := range m.uploads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	uploads := make([]snapUpload, 0, len(ids))
	for _, id := range ids {
		u := m.uploads[id]
		su := snapUpload{id: id, cs: u.cs, lastAt: u.lastAt, lens: slices.Clone(u.lens), crcs: slices.Clone(u.crcs)}
		uploads = append(uploads, su)
		blobs = append(blobs, snapBlob{id: id, name: "(upload " + id + ")", cs: u.cs, lens: su.lens, crcs: su.crcs})
	}
	m.pinned = true
	return func(w io.Writer) error {
		defer m.unpin()
		return m.writeSnapshot(w, stores, uploads, blobs)
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
		if _, ok := m.refs[id]; !ok && m.uploads[id] == nil {
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

func (m *Machine) writeSnapshot(w io.Writer, stores []snapStore, uploads []snapUpload, blobs []snapBlob) error {
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
			sw.uvarint(uint64(len(o.crcs)))
			for _, c := range o.crcs {
				sw.crc(c)
			}
		}
	}
	sw.uvarint(uint64(len(uploads)))
	for _, u := range uploads {
		sw.bytes([]byte(u.id))
		sw.uvarint(uint64(u.cs))
		sw.varint(u.lastAt)
		sw.uvarint(uint64(len(u.lens)))
		for k, n := range u.lens {
			sw.uvarint(uint64(n))
			sw.crc(u.crcs[k])
		}
	}
	sw.uvarint(uint64(len(blobs)))
	for i := range blobs {
		if sw.err != nil {
			return sw.err
		}
		if err := m.writeBlob(sw, &blobs[i]); err != nil {
			return err
		}
	}
	if sw.err != nil {
		return sw.err
	}
	return sw.w.Flush()
}

// writeBlob streams one blob's chunks, each checked against its checksum.
func (m *Machine) writeBlob(sw *snapWriter, b *snapBlob) error {
	rd, err := m.blobs.open(b.id)
	if err != nil {
		return fmt.Errorf("objstore: snapshot: object %q: blob %s: %w", b.name, b.id, err)
	}
	defer rd.Close()
	sw.bytes([]byte(b.id))
	sw.uvarint(uint64(b.count()))
	var buf []byte
	return b.each(func(k, n int64) error {
		var data []byte
		if mem, ok := rd.(*memBlob); ok {
			data, _ = mem.chunk(k * b.cs)
		} else {
			if int64(cap(buf)) < n {
				buf = make([]byte, b.cs)
			}
			data = buf[:n]
			if got, err := rd.ReadAt(data, k*b.cs); int64(got) != n {
				return fmt.Errorf("objstore: snapshot: object %q: chunk %d of blob %s unreadable: %v", b.name, k, b.id, err)
			}
		}
		sum := Checksum(data)
		if int64(len(data)) != n || b.crcs != nil && sum != b.crcs[k] {
			return fmt.Errorf("objstore: snapshot: object %q: chunk %d of blob %s fails its checksum: the blob file is corrupt on this node", b.name, k, b.id)
		}
		sw.uvarint(uint64(k))
		sw.bytes(data)
		sw.crc(sum)
		return sw.err
	})
}

func (s *snapWriter) crc(c uint32) {
	s.buf = binary.BigEndian.AppendUint32(s.buf[:0], c)
	s.write(s.buf)
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

func (s *snapReader) crc() uint32 {
	var b [4]byte
	if s.err == nil {
		_, s.err = io.ReadFull(s.r, b[:])
	}
	return binary.BigEndian.Uint32(b[:])
}

// restored is the state read from a snapshot.
type restored struct {
	stores  map[string]*store
	refs    map[string]struct{}
	uploads map[string]*upload
	exp     expiryHeap
	// blobs maps a blob id to what its data must match.
	blobs map[string]*snapBlob
}

// Restore implements fsm.Subsystem. Each blob chunk in the snapshot is
// verified against its checksum (a mismatch fails the restore, naming the
// object) and written to the blob store unless the local copy already
// holds it. Blobs the restored state does not refer to are removed: the
// log entries after the snapshot bring whatever they need themselves.
func (m *Machine) Restore(r io.Reader) error {
	st, err := m.readSnapshot(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.stores, m.refs, m.uploads, m.exp = st.stores, st.refs, st.uploads, st.exp
	m.pinned, m.deferred = false, nil
	m.blobs.keepOnly(func(id string) bool {
		_, ok := st.refs[id]
		return ok || st.uploads[id] != nil
	})
	m.mu.Unlock()
	m.notify.FireAll()
	return nil
}

func (m *Machine) readSnapshot(r io.Reader) (*restored, error) {
	st := &restored{stores: map[string]*store{}, refs: map[string]struct{}{}, uploads: map[string]*upload{}, blobs: map[string]*snapBlob{}}
	br := bufio.NewReaderSize(r, 64<<10)
	var magic [len(snapMagic) + 1]byte
	n, err := io.ReadFull(br, magic[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return st, nil // empty state
	}
	version := magic[len(snapMagic)]
	if err != nil || string(magic[:len(snapMagic)]) != snapMagic || version < snapVersionData || version > snapVersion {
		return nil, errors.New("objstore: not an object store snapshot of a known version")
	}
	sr := &snapReader{r: br}
	nStores := sr.uvarint()
	for i := uint64(0); i < nStores && sr.err == nil; i++ {
		s := &store{cfg: &objstorepb.ObjectStoreConfig{}, objects: map[string]*object{}}
		sr.msg(s.cfg)
		s.createdAt = sr.varint()
		s.rev = sr.uvarint()
		s.hole = s.rev
		if version >= snapVersionRefs {
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
			if version >= snapVersion {
				nc := sr.uvarint()
				if nc > MaxChunkIndex {
					sr.err = fmt.Errorf("object %q claims %d chunks", o.info.GetName(), nc)
				}
				if nc > 0 && sr.err == nil {
					o.crcs = make([]uint32, nc)
					for k := range o.crcs {
						o.crcs[k] = sr.crc()
					}
				}
			}
			if sr.err != nil {
				break
			}
			s.objects[o.info.GetName()] = o
			if !o.info.GetDeleted() {
				s.live++
				s.bytes += o.info.GetSize()
			}
			if o.blob != "" {
				if !validBlobID(o.blob) {
					sr.err = fmt.Errorf("object %q: bad blob id", o.info.GetName())
					break
				}
				st.refs[o.blob] = struct{}{}
				cs := max(int64(o.info.GetChunkSize()), 1)
				st.blobs[o.blob] = &snapBlob{id: o.blob, name: o.info.GetName(), cs: cs, size: o.info.GetSize(), crcs: o.crcs}
			}
			if o.expireAt != 0 {
				st.exp = append(st.exp, expiry{at: o.expireAt, store: s.cfg.GetName(), name: o.info.GetName(), rev: o.info.GetRevision()})
			}
		}
		st.stores[s.cfg.GetName()] = s
	}
	if version >= snapVersion {
		nUp := sr.uvarint()
		for i := uint64(0); i < nUp && sr.err == nil; i++ {
			id := string(sr.bytes(64))
			u := &upload{cs: int64(sr.uvarint()), lastAt: sr.varint(), short: -1}
			nc := sr.uvarint()
			if sr.err == nil && (!validBlobID(id) || u.cs < MinChunkSize || u.cs > MaxChunkSize || nc > MaxChunkIndex) {
				sr.err = errors.New("snapshot holds a bad upload")
			}
			if sr.err != nil {
				break
			}
			u.lens, u.crcs = make([]int32, nc), make([]uint32, nc)
			for k := range u.lens {
				u.lens[k], u.crcs[k] = int32(sr.uvarint()), sr.crc()
				if l := int64(u.lens[k]); l > 0 {
					u.n++
					u.size += l
					if l < u.cs {
						u.short = int64(k)
					}
				}
			}
			st.uploads[id] = u
			st.blobs[id] = &snapBlob{id: id, name: "(upload " + id + ")", cs: u.cs, lens: u.lens, crcs: u.crcs}
		}
	}
	nBlobs := sr.uvarint()
	for i := uint64(0); i < nBlobs && sr.err == nil; i++ {
		id := string(sr.bytes(64))
		if sr.err != nil {
			break
		}
		b := st.blobs[id]
		if b == nil {
			sr.err = fmt.Errorf("snapshot holds data of blob %q, which nothing refers to", id)
			break
		}
		switch version {
		case snapVersion:
			sr.err = m.restoreBlob(sr, b)
		case snapVersionRefs:
			_ = sr.uvarint() // the size; the data stayed in the data dir
		case snapVersionData:
			sr.err = m.restoreLegacyBlob(sr, b)
		}
	}
	if sr.err != nil {
		return nil, fmt.Errorf("objstore: restore: %w", sr.err)
	}
	heap.Init(&st.exp)
	return st, nil
}

// restoreBlob reads one blob's chunks, verifies each against its checksum
// and writes those the local blob store lacks.
func (m *Machine) restoreBlob(sr *snapReader, b *snapBlob) error {
	nc := sr.uvarint()
	var local blobReader
	if _, ok := m.blobs.(*fileBlobs); ok {
		if rd, err := m.blobs.open(b.id); err == nil {
			local = rd
			defer rd.Close()
		}
	}
	var buf []byte
	for j := uint64(0); j < nc && sr.err == nil; j++ {
		k := int64(sr.uvarint())
		data := sr.bytes(MaxChunkSize)
		sum := sr.crc()
		if sr.err != nil {
			return sr.err
		}
		if Checksum(data) != sum || b.crcs != nil && (k >= int64(len(b.crcs)) || b.crcs[k] != sum) {
			return fmt.Errorf("object %q: chunk %d of blob %s fails its checksum in the snapshot", b.name, k, b.id)
		}
		if local != nil {
			if cap(buf) < len(data) {
				buf = make([]byte, MaxChunkSize)
			}
			if got, _ := local.ReadAt(buf[:len(data)], k*b.cs); got == len(data) && Checksum(buf[:len(data)]) == sum {
				continue // already here
			}
		}
		if err := m.blobs.write(b.id, k*b.cs, data); err != nil {
			return fmt.Errorf("object %q: writing blob %s: %w", b.name, b.id, err)
		}
	}
	return sr.err
}

// restoreLegacyBlob reads a version 1 snapshot's raw blob data.
func (m *Machine) restoreLegacyBlob(sr *snapReader, b *snapBlob) error {
	size := int64(sr.uvarint())
	if sr.err != nil {
		return sr.err
	}
	buf := make([]byte, min(b.cs, MaxChunkSize))
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := io.ReadFull(sr.r, buf[:n]); err != nil {
			return err
		}
		if err := m.blobs.write(b.id, off, buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

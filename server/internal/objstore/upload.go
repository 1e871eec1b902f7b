package objstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// An upload is a Put whose chunks are arriving through the log: replicated
// state, so every replica holds the same chunks and the commit (OpCommit,
// the object's metadata, proposed last) is the point where the new version
// becomes visible everywhere at once. An upload no chunk has reached for
// the upload timeout is collected by a tick (a replicated command), so
// every replica drops the same ones at the same point of the log.
type upload struct {
	cs     int64    // the chunk size; chunk k starts at k*cs
	crcs   []uint32 // CRC-32C of each chunk, by index
	lens   []int32  // each chunk's length; 0: not arrived
	n      int64    // chunks arrived
	short  int64    // index of the one chunk shorter than cs, -1: none
	size   int64    // bytes arrived
	lastAt int64    // the time of the last chunk: the timeout counts from it
}

// DefaultUploadTimeout is how long, in milliseconds, an upload may go
// without a chunk before a tick collects it, unless SetUploadTimeout says
// otherwise.
const DefaultUploadTimeout = 2 * 60 * 1000

// SetUploadTimeout sets the upload timeout in milliseconds (<= 0: the
// default). Every replica must use the same value. Call it before the
// machine is used.
func (m *Machine) SetUploadTimeout(ms int64) {
	if ms <= 0 {
		ms = DefaultUploadTimeout
	}
	m.mu.Lock()
	m.uploadTimeout = ms
	m.mu.Unlock()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the checksum kept for each chunk: CRC-32C.
func Checksum(data []byte) uint32 { return crc32.Checksum(data, castagnoli) }

// MaxChunkIndex bounds a chunk's index: 2^24 chunks of at most MaxChunkSize
// is 16 TiB, and an upload's per-chunk tables stay addressable.
const MaxChunkIndex = 1 << 24

// EncodeChunk is the payload of OpChunk: chunk index of blob, whose chunks
// are chunkSize bytes (the last one may be shorter), with its checksum.
//
//	uvarint(len(blob)) | blob | uvarint(chunkSize) | uvarint(index) | crc32c (4 bytes, big-endian) | data
func EncodeChunk(blob string, chunkSize, index int64, data []byte) []byte {
	out := make([]byte, 0, len(blob)+len(data)+24)
	out = binary.AppendUvarint(out, uint64(len(blob)))
	out = append(out, blob...)
	out = binary.AppendUvarint(out, uint64(chunkSize))
	out = binary.AppendUvarint(out, uint64(index))
	out = binary.BigEndian.AppendUint32(out, Checksum(data))
	return append(out, data...)
}

type chunkCmd struct {
	blob      string
	cs, index int64
	crc       uint32
	data      []byte
}

func decodeChunk(p []byte) (chunkCmd, error) {
	var c chunkCmd
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return c, errors.New("objstore: chunk payload: bad blob id length")
	}
	c.blob, p = string(p[k:k+int(n)]), p[k+int(n):]
	if !validBlobID(c.blob) {
		return c, errors.New("objstore: chunk payload: bad blob id")
	}
	cs, k := binary.Uvarint(p)
	if k <= 0 || cs < MinChunkSize || cs > MaxChunkSize {
		return c, errors.New("objstore: chunk payload: bad chunk size")
	}
	p = p[k:]
	idx, k := binary.Uvarint(p)
	if k <= 0 || idx >= MaxChunkIndex {
		return c, errors.New("objstore: chunk payload: bad chunk index")
	}
	p = p[k:]
	if len(p) < 4 {
		return c, errors.New("objstore: chunk payload: no checksum")
	}
	c.cs, c.index, c.crc, c.data = int64(cs), int64(idx), binary.BigEndian.Uint32(p), p[4:]
	if len(c.data) == 0 || int64(len(c.data)) > c.cs {
		return c, fmt.Errorf("objstore: chunk payload: %d bytes of data for a chunk size of %d", len(c.data), c.cs)
	}
	if Checksum(c.data) != c.crc {
		return c, fmt.Errorf("objstore: chunk %d of blob %s fails its checksum in the log entry", c.index, c.blob)
	}
	return c, nil
}

// applyChunk records a chunk of an upload and writes it to the blob store.
// The state records the chunk even when the local write fails, so that
// replicas agree; the local copy then fails its checksum when read, and
// the proposer (whose result this is) fails the Put.
func (m *Machine) applyChunk(c chunkCmd, at int64) any {
	if _, ok := m.refs[c.blob]; ok {
		return errors.New("objstore: chunk for a committed blob")
	}
	u := m.uploads[c.blob]
	if u == nil {
		u = &upload{cs: c.cs, short: -1}
		m.uploads[c.blob] = u
	}
	if u.cs != c.cs {
		return fmt.Errorf("objstore: chunk of %d bytes' chunking for an upload chunked by %d", c.cs, u.cs)
	}
	u.lastAt = at
	if c.index >= int64(len(u.lens)) {
		u.lens = slices.Grow(u.lens, int(c.index)+1-len(u.lens))[:c.index+1]
		u.crcs = slices.Grow(u.crcs, int(c.index)+1-len(u.crcs))[:c.index+1]
	}
	if u.lens[c.index] != 0 {
		// A replay, or a proposal retried: the same bytes again.
		return &objstorepb.ObjectStoreServicePutResponse{Result: result.OK()}
	}
	if int64(len(c.data)) < u.cs {
		if u.short >= 0 {
			return fmt.Errorf("objstore: upload %s has two short chunks (%d and %d)", c.blob, u.short, c.index)
		}
		u.short = c.index
	}
	u.lens[c.index], u.crcs[c.index] = int32(len(c.data)), c.crc
	u.n++
	u.size += int64(len(c.data))
	if err := m.blobs.write(c.blob, c.index*u.cs, c.data); err != nil {
		return fmt.Errorf("objstore: writing chunk %d of blob %s: %w", c.index, c.blob, err)
	}
	return &objstorepb.ObjectStoreServicePutResponse{Result: result.OK()}
}

// complete checks that an upload holds exactly size bytes in whole chunks.
func (u *upload) complete(size int64) error {
	want := (size + u.cs - 1) / u.cs
	switch {
	case u.size != size:
		return fmt.Errorf("%d of %d bytes arrived", u.size, size)
	case u.n != want || int64(len(u.lens)) != want:
		return fmt.Errorf("%d of %d chunks arrived", u.n, want)
	case u.short >= 0 && u.short != want-1:
		return fmt.Errorf("chunk %d is short but not the last", u.short)
	}
	return nil
}

// discard drops a pending upload and its chunks.
func (m *Machine) discard(id string) {
	if _, ok := m.uploads[id]; !ok {
		return
	}
	delete(m.uploads, id)
	m.dropBlob(id)
}

// expireUploads collects the uploads idle for the upload timeout.
func (m *Machine) expireUploads(atMs int64) {
	var due []string
	for id, u := range m.uploads {
		if u.lastAt+m.uploadTimeout <= atMs {
			due = append(due, id)
		}
	}
	slices.Sort(due)
	for _, id := range due {
		m.discard(id)
	}
}

// nextUploadDeadline is the earliest time an upload expires, or 0.
func (m *Machine) nextUploadDeadline() int64 {
	var next int64
	for _, u := range m.uploads {
		if d := u.lastAt + m.uploadTimeout; next == 0 || d < next {
			next = d
		}
	}
	return next
}

// Uploads returns how many uploads are pending (tests and gauges).
func (m *Machine) Uploads() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.uploads)
}

// BlobReader reads a blob's chunks; Close it when done.
type BlobReader interface {
	blobReader
}

// Open opens the blob of a version for reading.
func (m *Machine) Open(blob string) (BlobReader, error) { return m.blobs.open(blob) }

// ReadChunk returns chunk k of version v from rd, verified against its
// checksum. A chunk that fails it is an error naming the object and the
// chunk, never data. A memory blob's bytes are shared (never modified); a
// file's are read into a fresh buffer, since a sent message must not be
// modified either.
func ReadChunk(rd BlobReader, v *Version, k int64) ([]byte, error) {
	cs := int64(v.Info.GetChunkSize())
	off := k * cs
	n := min(cs, v.Info.GetSize()-off)
	if n <= 0 {
		return nil, fmt.Errorf("object %q: no chunk %d", v.Info.GetName(), k)
	}
	var buf []byte
	if mem, ok := rd.(*memBlob); ok {
		buf, _ = mem.chunk(off)
		if int64(len(buf)) != n {
			return nil, fmt.Errorf("object %q: chunk %d at offset %d is missing from this replica's store", v.Info.GetName(), k, off)
		}
	} else {
		buf = make([]byte, n)
		if got, err := rd.ReadAt(buf, off); int64(got) != n {
			return nil, fmt.Errorf("object %q: chunk %d at offset %d is unreadable: %v", v.Info.GetName(), k, off, err)
		}
	}
	if v.CRCs != nil {
		if int64(len(v.CRCs)) <= k || Checksum(buf) != v.CRCs[k] {
			return nil, fmt.Errorf("object %q: chunk %d at offset %d fails its checksum: the blob file %s is corrupt on this node", v.Info.GetName(), k, off, v.Blob)
		}
	}
	return buf, nil
}

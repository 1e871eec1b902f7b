package objstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// A blob is the data of one object version, named by a random id the API
// layer draws when a Put starts. It is written once into staging, adopted
// (made permanent) by the commit's apply, and removed when no object
// version refers to it any more. Blob data never passes through the raft
// log: only the id does.
type blobStore interface {
	// create starts a staged blob.
	create(id string) (stagedBlob, error)
	// adopt makes a staged blob permanent. Adopting a blob that is already
	// permanent, or gone, is a no-op (a log replay does both).
	adopt(id string)
	// remove deletes a blob, staged or permanent; a missing one is a no-op.
	remove(id string)
	// open returns a reader of a permanent blob.
	open(id string) (blobReader, error)
	// restore writes a permanent blob from a snapshot, reading exactly size
	// bytes from r.
	restore(id string, size int64, r io.Reader) error
	// sweep removes every staged blob for which keepStaged is false and
	// every permanent blob for which keep is false.
	sweep(keepStaged, keep func(id string) bool)
}

type stagedBlob interface {
	io.Writer
	// finish makes the written data durable and closes the blob; the blob
	// stays staged until adopted.
	finish() error
	// abort discards the staged blob.
	abort()
}

type blobReader interface {
	io.ReaderAt
	Close() error
}

// newBlobID draws a blob id: 32 hex digits.
func newBlobID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// validBlobID guards file names derived from ids that arrive in commands.
func validBlobID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// fileBlobs keeps blobs as files: <dir>/staging/<id> while a Put streams in,
// <dir>/blobs/<id> once committed. Readers hold an open file, so removing a
// blob does not disturb a Get already reading it.
type fileBlobs struct {
	staging, blobs string
}

func newFileBlobs(dir string) (*fileBlobs, error) {
	b := &fileBlobs{staging: filepath.Join(dir, "staging"), blobs: filepath.Join(dir, "blobs")}
	for _, d := range []string{b.staging, b.blobs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("objstore: blob directory: %w", err)
		}
	}
	return b, nil
}

type fileStaged struct {
	f *os.File
}

func (b *fileBlobs) create(id string) (stagedBlob, error) {
	f, err := os.OpenFile(filepath.Join(b.staging, id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &fileStaged{f: f}, nil
}

func (s *fileStaged) Write(p []byte) (int, error) { return s.f.Write(p) }

func (s *fileStaged) finish() error {
	if err := s.f.Sync(); err != nil {
		s.abort()
		return err
	}
	return s.f.Close()
}

func (s *fileStaged) abort() {
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}

func (b *fileBlobs) adopt(id string) {
	_ = os.Rename(filepath.Join(b.staging, id), filepath.Join(b.blobs, id))
}

func (b *fileBlobs) remove(id string) {
	_ = os.Remove(filepath.Join(b.staging, id))
	_ = os.Remove(filepath.Join(b.blobs, id))
}

func (b *fileBlobs) open(id string) (blobReader, error) {
	return os.Open(filepath.Join(b.blobs, id))
}

func (b *fileBlobs) restore(id string, size int64, r io.Reader) error {
	path := filepath.Join(b.blobs, id)
	// Blob ids are never reused and files are renamed into place whole, so
	// a file of the right size already holds this blob's data.
	if st, err := os.Stat(path); err == nil && st.Size() == size {
		_, err := io.CopyN(io.Discard, r, size)
		return err
	}
	tmp := filepath.Join(b.staging, id+".restore")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func (b *fileBlobs) sweep(keepStaged, keep func(id string) bool) {
	for _, d := range []struct {
		dir  string
		keep func(string) bool
	}{{b.staging, keepStaged}, {b.blobs, keep}} {
		entries, err := os.ReadDir(d.dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !d.keep(e.Name()) {
				_ = os.Remove(filepath.Join(d.dir, e.Name()))
			}
		}
	}
}

// memBlobs keeps blobs in memory, for a server without a data dir (whose
// whole state is in memory anyway). A blob is the list of chunks as they
// arrived, never modified once staged, so readers share them.
type memBlobs struct {
	mu      sync.Mutex
	staged  map[string]*memBlob
	blobs   map[string]*memBlob
	writing map[string]bool
}

// memBlob is a blob's data in segments; offs[i] is where segs[i] starts.
type memBlob struct {
	segs [][]byte
	offs []int64
	size int64
}

func newMemBlobs() *memBlobs {
	return &memBlobs{staged: map[string]*memBlob{}, blobs: map[string]*memBlob{}, writing: map[string]bool{}}
}

type memStaged struct {
	b    *memBlobs
	id   string
	blob memBlob
}

func (b *memBlobs) create(id string) (stagedBlob, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.writing[id] || b.staged[id] != nil || b.blobs[id] != nil {
		return nil, errors.New("objstore: blob id in use")
	}
	b.writing[id] = true
	return &memStaged{b: b, id: id}, nil
}

// Write keeps p itself, not a copy: the Put handler hands over each
// received chunk, which nothing modifies afterwards.
func (s *memStaged) Write(p []byte) (int, error) {
	if len(p) > 0 {
		s.blob.offs = append(s.blob.offs, s.blob.size)
		s.blob.segs = append(s.blob.segs, p)
		s.blob.size += int64(len(p))
	}
	return len(p), nil
}

func (s *memStaged) finish() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	delete(s.b.writing, s.id)
	blob := s.blob
	s.b.staged[s.id] = &blob
	return nil
}

func (s *memStaged) abort() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	delete(s.b.writing, s.id)
}

func (b *memBlobs) adopt(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if blob, ok := b.staged[id]; ok {
		delete(b.staged, id)
		b.blobs[id] = blob
	}
}

func (b *memBlobs) remove(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.staged, id)
	delete(b.blobs, id)
}

func (b *memBlobs) open(id string) (blobReader, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	blob, ok := b.blobs[id]
	if !ok {
		return nil, os.ErrNotExist
	}
	return blob, nil
}

// slice returns n bytes at off without copying when they lie in one
// segment.
func (m *memBlob) slice(off, n int64) ([]byte, bool) {
	i := m.seg(off)
	if i < 0 {
		return nil, false
	}
	rel := off - m.offs[i]
	if rel+n > int64(len(m.segs[i])) {
		return nil, false
	}
	return m.segs[i][rel : rel+n : rel+n], true
}

// seg returns the index of the segment holding off, or -1.
func (m *memBlob) seg(off int64) int {
	i := sort.Search(len(m.offs), func(i int) bool { return m.offs[i] > off }) - 1
	if i < 0 || off >= m.size {
		return -1
	}
	return i
}

func (m *memBlob) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		i := m.seg(off + int64(n))
		if i < 0 {
			return n, io.EOF
		}
		n += copy(p[n:], m.segs[i][off+int64(n)-m.offs[i]:])
	}
	return n, nil
}

func (m *memBlob) Close() error { return nil }

func (b *memBlobs) restore(id string, size int64, r io.Reader) error {
	blob := &memBlob{}
	for blob.size < size {
		seg := make([]byte, min(size-blob.size, MaxChunkSize))
		if _, err := io.ReadFull(r, seg); err != nil {
			return err
		}
		blob.offs = append(blob.offs, blob.size)
		blob.segs = append(blob.segs, seg)
		blob.size += int64(len(seg))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blobs[id] = blob
	return nil
}

func (b *memBlobs) sweep(keepStaged, keep func(id string) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id := range b.staged {
		if !keepStaged(id) {
			delete(b.staged, id)
		}
	}
	for id := range b.blobs {
		if !keep(id) {
			delete(b.blobs, id)
		}
	}
}

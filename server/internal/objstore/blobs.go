package objstore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// whole state is in memory anyway). Blob data is never modified once
// staged, so readers share the slices.
type memBlobs struct {
	mu      sync.Mutex
	staged  map[string][]byte
	blobs   map[string][]byte
	writing map[string]bool
}

func newMemBlobs() *memBlobs {
	return &memBlobs{staged: map[string][]byte{}, blobs: map[string][]byte{}, writing: map[string]bool{}}
}

type memStaged struct {
	b   *memBlobs
	id  string
	buf bytes.Buffer
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

func (s *memStaged) Write(p []byte) (int, error) { return s.buf.Write(p) }

func (s *memStaged) finish() error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	delete(s.b.writing, s.id)
	data := s.buf.Bytes()
	if data == nil {
		data = []byte{}
	}
	s.b.staged[s.id] = data
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
	if data, ok := b.staged[id]; ok {
		delete(b.staged, id)
		b.blobs[id] = data
	}
}

func (b *memBlobs) remove(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.staged, id)
	delete(b.blobs, id)
}

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

func (b *memBlobs) open(id string) (blobReader, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.blobs[id]
	if !ok {
		return nil, os.ErrNotExist
	}
	return memReader{bytes.NewReader(data)}, nil
}

// data returns a permanent blob's bytes, shared (never modified).
func (b *memBlobs) data(id string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.blobs[id]
	return data, ok
}

func (b *memBlobs) restore(id string, size int64, r io.Reader) error {
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blobs[id] = data
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

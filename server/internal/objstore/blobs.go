package objstore

import (
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
// layer draws when a Put starts. Its chunks arrive through the raft log
// (OpChunk), each written by apply at its own offset, on every replica; a
// blob is removed when no object version or pending upload refers to it.
// Writing a chunk is idempotent (the same bytes at the same offset), so a
// log replay after a crash rewrites what the page cache lost.
type blobStore interface {
	// write stores data at off in blob id, creating the blob.
	write(id string, off int64, data []byte) error
	// remove deletes a blob; a missing one is a no-op.
	remove(id string)
	// open returns a reader of a blob.
	open(id string) (blobReader, error)
	// keepOnly removes every blob for which keep is false.
	keepOnly(keep func(id string) bool)
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

// NewBlobID draws the blob id of a new upload.
func NewBlobID() string { return newBlobID() }

// validBlobID guards file names derived from ids that arrive in commands.
func validBlobID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// fileBlobs keeps blobs as files, <dir>/blobs/<id>. Readers hold an open
// file, so removing a blob does not disturb a Get already reading it.
// Older servers staged uploads in <dir>/staging; a commit of theirs still
// in the log adopts its file from there (adoptLegacy).
type fileBlobs struct {
	staging, blobs string
}

func newFileBlobs(dir string) (*fileBlobs, error) {
	b := &fileBlobs{staging: filepath.Join(dir, "staging"), blobs: filepath.Join(dir, "blobs")}
	if err := os.MkdirAll(b.blobs, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: blob directory: %w", err)
	}
	return b, nil
}

func (b *fileBlobs) write(id string, off int64, data []byte) error {
	f, err := os.OpenFile(filepath.Join(b.blobs, id), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, off); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (b *fileBlobs) remove(id string) {
	_ = os.Remove(filepath.Join(b.blobs, id))
}

func (b *fileBlobs) open(id string) (blobReader, error) {
	return os.Open(filepath.Join(b.blobs, id))
}

// adoptLegacy moves a blob an older server staged outside raft into place.
func (b *fileBlobs) adoptLegacy(id string) bool {
	if err := os.Rename(filepath.Join(b.staging, id), filepath.Join(b.blobs, id)); err == nil {
		return true
	}
	_, err := os.Stat(filepath.Join(b.blobs, id))
	return err == nil
}

// removeLegacy removes a blob an older server staged, if any.
func (b *fileBlobs) removeLegacy(id string) {
	_ = os.Remove(filepath.Join(b.staging, id))
}

func (b *fileBlobs) keepOnly(keep func(id string) bool) {
	entries, err := os.ReadDir(b.blobs)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !keep(e.Name()) {
			_ = os.Remove(filepath.Join(b.blobs, e.Name()))
		}
	}
}

// memBlobs keeps blobs in memory, for a server without a data dir (whose
// whole state, raft log included, is in memory anyway).
type memBlobs struct {
	mu    sync.Mutex
	blobs map[string]*memBlob
}

// memBlob is a blob's data as the chunks that arrived, by offset. A chunk
// is never modified once written, so readers share its bytes.
type memBlob struct {
	mu     sync.Mutex
	chunks map[int64][]byte
}

func newMemBlobs() *memBlobs {
	return &memBlobs{blobs: map[string]*memBlob{}}
}

// write keeps a copy of data: the command's payload belongs to the log.
func (b *memBlobs) write(id string, off int64, data []byte) error {
	b.mu.Lock()
	blob := b.blobs[id]
	if blob == nil {
		blob = &memBlob{chunks: map[int64][]byte{}}
		b.blobs[id] = blob
	}
	b.mu.Unlock()
	blob.mu.Lock()
	defer blob.mu.Unlock()
	blob.chunks[off] = append([]byte(nil), data...)
	return nil
}

func (b *memBlobs) remove(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
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

func (b *memBlobs) keepOnly(keep func(id string) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id := range b.blobs {
		if !keep(id) {
			delete(b.blobs, id)
		}
	}
}

// chunk returns the chunk written at off, shared.
func (m *memBlob) chunk(off int64) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.chunks[off]
	return c, ok
}

// ReadAt reads whole chunks only, as ReadChunk asks: a blob's chunks are
// read where they were written.
func (m *memBlob) ReadAt(p []byte, off int64) (int, error) {
	c, ok := m.chunk(off)
	if !ok {
		return 0, errors.New("objstore: no chunk at this offset")
	}
	n := copy(p, c)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memBlob) Close() error { return nil }

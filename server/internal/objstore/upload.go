package objstore

// BlobReader reads a committed blob; Close it when done.
type BlobReader interface {
	blobReader
}

// Open opens a committed blob for reading.
func (m *Machine) Open(blob string) (BlobReader, error) { return m.blobs.open(blob) }

// ReadChunk returns n bytes of rd at off. A memory blob's bytes are shared
// (never modified, so a sent message may keep them); a file's are read
// into a fresh buffer, since a sent message must not be modified either.
func ReadChunk(rd BlobReader, off, n int64) ([]byte, error) {
	if mem, ok := rd.(*memBlob); ok {
		if buf, shared := mem.slice(off, n); shared {
			return buf, nil
		}
	}
	buf := make([]byte, n)
	if _, err := rd.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}

// Upload is the data of one Put, staged in the blob store outside raft
// while it streams in. Finish it and propose OpCommit with EncodeCommit to
// keep it; Abort discards it. Close ends the upload in every case.
type Upload struct {
	m  *Machine
	id string
	st stagedBlob
}

// Stage starts an upload under a fresh blob id. The blob is safe from
// Sweep until Close.
func (m *Machine) Stage() (*Upload, error) {
	id := newBlobID()
	st, err := m.blobs.create(id)
	if err != nil {
		return nil, err
	}
	m.stageMu.Lock()
	m.staging[id] = struct{}{}
	m.stageMu.Unlock()
	return &Upload{m: m, id: id, st: st}, nil
}

// ID is the upload's blob id.
func (u *Upload) ID() string { return u.id }

// Write appends data.
func (u *Upload) Write(p []byte) (int, error) { return u.st.Write(p) }

// Finish makes the data durable; the blob stays staged until the commit's
// apply adopts it.
func (u *Upload) Finish() error { return u.st.finish() }

// Abort discards the staged data.
func (u *Upload) Abort() { u.st.abort() }

// Close ends the upload: Sweep may remove its blob from now on unless a
// commit adopted it.
func (u *Upload) Close() {
	u.m.stageMu.Lock()
	delete(u.m.staging, u.id)
	u.m.stageMu.Unlock()
}

// Sweep removes blobs left behind by a crash (a Put interrupted while
// staging, a version dropped while its removal was deferred), once: call
// it before the first request that stages or drops data, by when the
// server has replayed its log and every blob the state refers to has been
// adopted.
func (m *Machine) Sweep() {
	m.swept.Do(func() {
		m.stageMu.Lock()
		defer m.stageMu.Unlock()
		m.mu.RLock()
		defer m.mu.RUnlock()
		m.blobs.sweep(func(id string) bool {
			_, ok := m.staging[id]
			return ok
		}, func(id string) bool {
			_, ok := m.refs[id]
			return ok || m.pinned
		})
	})
}

package fsm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// Snapshot layout (all integers varint-encoded):
//
//	"WMFS" | version:1 | clock (zigzag) | count | count × frame
//	frame := len(name) | name | chunk* | 0
//	chunk := n (1..maxChunk) | n bytes
//
// Chunking lets each subsystem stream its state of unknown size without
// buffering it whole, and lets Restore hand each subsystem a reader that ends
// exactly at its own frame.
// dedupFrame names the snapshot frame of the FSM's memory of request ids.
// The leading underscore keeps it out of the space of subsystem names.
const dedupFrame = "_dedup"

// indexFrame names the snapshot frame holding the raft index the snapshot
// was taken at (8 bytes, big-endian), so a restored FSM knows how far it
// has applied. Snapshots written before it restore with index 0.
const indexFrame = "_index"

const (
	snapMagic    = "WMFS"
	snapVersion  = 1
	maxChunk     = 64 << 10
	maxSnapFrame = 1024 // sanity bound on count when reading garbage
)

type snapPart struct {
	name  string
	write func(io.Writer) error
}

type fsmSnapshot struct {
	clock int64
	parts []snapPart
}

// Snapshot implements raft.FSM: it asks every subsystem for a point-in-time
// copy (on the FSM goroutine, so between two Applys) and returns a snapshot
// whose Persist writes them later, concurrently with Apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.sealed.Store(true)
	snap := &fsmSnapshot{clock: f.clock, parts: make([]snapPart, 0, len(f.subs))}
	for _, s := range f.subs {
		w, err := s.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("fsm: snapshot of %q: %w", s.Name(), err)
		}
		snap.parts = append(snap.parts, snapPart{name: s.Name(), write: w})
	}
	snap.parts = append(snap.parts, snapPart{name: dedupFrame, write: f.dedup.snapshot()})
	index := binary.BigEndian.AppendUint64(nil, f.applied.Load())
	snap.parts = append(snap.parts, snapPart{name: indexFrame, write: func(w io.Writer) error {
		_, err := w.Write(index)
		return err
	}})
	return snap, nil
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.writeTo(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot; the captured copies are left to the GC.
func (s *fsmSnapshot) Release() {}

func (s *fsmSnapshot) writeTo(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var hdr []byte
	hdr = append(hdr, snapMagic...)
	hdr = append(hdr, snapVersion)
	hdr = binary.AppendVarint(hdr, s.clock)
	hdr = binary.AppendUvarint(hdr, uint64(len(s.parts)))
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	for _, p := range s.parts {
		var nb []byte
		nb = binary.AppendUvarint(nb, uint64(len(p.name)))
		nb = append(nb, p.name...)
		if _, err := bw.Write(nb); err != nil {
			return err
		}
		cw := &chunkWriter{w: bw, buf: make([]byte, 0, maxChunk)}
		if err := p.write(cw); err != nil {
			return fmt.Errorf("fsm: persist %q: %w", p.name, err)
		}
		if err := cw.close(); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// chunkWriter frames whatever a subsystem writes into chunks of at most
// maxChunk bytes, buffering so that many small writes cost few frames.
type chunkWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), maxChunk-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == maxChunk {
			if err := c.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	var lb [binary.MaxVarintLen64]byte
	if _, err := c.w.Write(lb[:binary.PutUvarint(lb[:], uint64(len(c.buf)))]); err != nil {
		return err
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

func (c *chunkWriter) close() error {
	if err := c.flush(); err != nil {
		return err
	}
	return c.w.WriteByte(0) // the empty chunk ends the frame
}

// chunkReader reads one frame's chunks and reports io.EOF at its end.
type chunkReader struct {
	r    *bufio.Reader
	left uint64 // bytes left in the current chunk
	done bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		n, err := binary.ReadUvarint(c.r)
		if err != nil {
			return 0, unexpected(err)
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		if n > maxChunk {
			return 0, fmt.Errorf("fsm: snapshot chunk of %d bytes exceeds %d", n, maxChunk)
		}
		c.left = n
	}
	if uint64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= uint64(n)
	if err != nil {
		return n, unexpected(err)
	}
	return n, nil
}

// unexpected turns io.EOF inside a frame into io.ErrUnexpectedEOF: the frame
// was cut short, which a subsystem must not mistake for a clean end.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Restore implements raft.FSM: it replaces every subsystem's state with the
// snapshot's. A subsystem missing from the snapshot is restored from an empty
// reader (its empty state); a frame naming an unregistered subsystem is an
// error, because silently dropping state would lose data.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.sealed.Store(true)
	br := bufio.NewReader(rc)

	var magic [len(snapMagic) + 1]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return fmt.Errorf("fsm: snapshot header: %w", unexpected(err))
	}
	if string(magic[:len(snapMagic)]) != snapMagic {
		return errors.New("fsm: not a waymaker snapshot")
	}
	if v := magic[len(snapMagic)]; v != snapVersion {
		return fmt.Errorf("fsm: unsupported snapshot version %d", v)
	}
	clock, err := binary.ReadVarint(br)
	if err != nil {
		return fmt.Errorf("fsm: snapshot clock: %w", unexpected(err))
	}
	count, err := binary.ReadUvarint(br)
	if err != nil {
		return fmt.Errorf("fsm: snapshot frame count: %w", unexpected(err))
	}
	if count > maxSnapFrame {
		return fmt.Errorf("fsm: snapshot claims %d subsystems", count)
	}

	seen := make(map[string]bool, count)
	var index uint64
	for range count {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("fsm: snapshot frame name: %w", unexpected(err))
		}
		if n == 0 || n > MaxSubsystemNameLen {
			return fmt.Errorf("fsm: snapshot frame name length %d", n)
		}
		nb := make([]byte, n)
		if _, err := io.ReadFull(br, nb); err != nil {
			return fmt.Errorf("fsm: snapshot frame name: %w", unexpected(err))
		}
		name := string(nb)
		if name == dedupFrame && !seen[name] {
			seen[name] = true
			cr := &chunkReader{r: br}
			if err := f.dedup.restore(cr); err != nil {
				return fmt.Errorf("fsm: restore request ids: %w", err)
			}
			if _, err := io.Copy(io.Discard, cr); err != nil {
				return fmt.Errorf("fsm: restore request ids: %w", err)
			}
			continue
		}
		if name == indexFrame && !seen[name] {
			seen[name] = true
			b, err := io.ReadAll(&chunkReader{r: br})
			if err != nil || len(b) != 8 {
				return fmt.Errorf("fsm: snapshot index frame: %d bytes, %v", len(b), unexpected(err))
			}
			index = binary.BigEndian.Uint64(b)
			continue
		}
		s, ok := f.byName[name]
		if !ok {
			return fmt.Errorf("fsm: snapshot holds %w %q", ErrUnknownSubsystem, name)
		}
		if seen[name] {
			return fmt.Errorf("fsm: snapshot holds %q twice", name)
		}
		seen[name] = true
		cr := &chunkReader{r: br}
		if err := s.Restore(cr); err != nil {
			return fmt.Errorf("fsm: restore %q: %w", name, err)
		}
		// The subsystem may stop reading before its frame ends; skip the
		// rest so the next frame starts where it should.
		if _, err := io.Copy(io.Discard, cr); err != nil {
			return fmt.Errorf("fsm: restore %q: %w", name, err)
		}
	}
	for _, s := range f.subs {
		if !seen[s.Name()] {
			if err := s.Restore(bytes.NewReader(nil)); err != nil {
				return fmt.Errorf("fsm: reset %q: %w", s.Name(), err)
			}
		}
	}
	if !seen[dedupFrame] {
		f.dedup.replace(newDedup(f.dedup.cfg))
	}
	f.clock = clock
	f.applied.Store(index)
	return nil
}

// StateDigest is a SHA-256 over every subsystem's snapshot, in
// registration order, leaving out the memory of request ids: two FSMs with
// the same digest hold the same state. Tests use it to check that a refused
// request changed nothing. Call it where Snapshot may be called.
func (f *FSM) StateDigest() ([32]byte, error) {
	h := sha256.New()
	for _, s := range f.subs {
		w, err := s.Snapshot()
		if err != nil {
			return [32]byte{}, err
		}
		fmt.Fprintf(h, "%s\x00", s.Name())
		if err := w(h); err != nil {
			return [32]byte{}, err
		}
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, nil
}

package sketch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
)

// snapshotVersion is the first byte of a snapshot; a new layout gets a new
// version and Restore keeps reading the old ones.
//
//	1: count, then each sketch's record, unframed (written whole in memory).
//	2: count, then per sketch uvarint length + record, then a big-endian
//	   CRC-32C (Castagnoli) of every byte before it, version byte included.
//
// A record is the marshalled config, createdAt and the structure's encoding.
const snapshotVersion = 2

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxRecord bounds one record's length prefix; a sketch is at most
// MaxSketchBytes, far below it. Restore reads a record as it arrives, so a
// corrupt length below the bound allocates no more than the bytes present.
const maxRecord = 1 << 32

type cutEntry struct {
	name string
	e    *entry
}

// cut is what a writer encodes: the entries at the cut, in name order.
type cut struct{ entries []cutEntry }

// Snapshot takes the cut on the FSM goroutine: the sorted list of entry
// pointers, each marked frozen by this cut's generation (no sketch data is
// copied). While the writer runs, apply copies a frozen entry before
// changing it (lookupW), so the writer reads exactly the state at the cut,
// one sketch at a time, and then releases the freeze. A writer dropped
// unrun releases it when the cut is garbage collected.
func (s *Machine) Snapshot() (func(io.Writer) error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutGen++
	gen := s.cutGen
	c := &cut{entries: make([]cutEntry, 0, len(s.sketches))}
	for n, e := range s.sketches {
		e.frozen = gen
		c.entries = append(c.entries, cutEntry{n, e})
	}
	slices.SortFunc(c.entries, func(a, b cutEntry) int { return strings.Compare(a.name, b.name) })
	s.live[gen] = struct{}{}
	s.minLive = min(s.minLive, gen)
	runtime.AddCleanup(c, s.release, gen)
	return func(w io.Writer) error {
		defer func() {
			s.release(gen)
			runtime.KeepAlive(c)
		}()
		return writeCut(w, c)
	}, nil
}

// release ends cut gen's freeze: apply stops copying entries for it. It
// is idempotent (the writer and the cleanup may both call it).
func (s *Machine) release(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live[gen]; !ok {
		return
	}
	delete(s.live, gen)
	s.minLive = math.MaxUint64
	for g := range s.live {
		s.minLive = min(s.minLive, g)
	}
}

// crcWriter writes through a buffer and keeps the CRC of what it wrote.
type crcWriter struct {
	w   *bufio.Writer
	crc uint32
}

func (cw *crcWriter) write(b []byte) error {
	cw.crc = crc32.Update(cw.crc, castagnoli, b)
	_, err := cw.w.Write(b)
	return err
}

func writeCut(w io.Writer, c *cut) error {
	cw := &crcWriter{w: bufio.NewWriterSize(w, 64<<10)}
	head := binary.AppendUvarint([]byte{snapshotVersion}, uint64(len(c.entries)))
	if err := cw.write(head); err != nil {
		return err
	}
	e := &enc{}
	var prefix []byte
	for _, x := range c.entries {
		e.b = e.b[:0]
		if err := encodeEntry(e, x.e); err != nil {
			return fmt.Errorf("sketch: snapshot of %q: %w", x.name, err)
		}
		prefix = binary.AppendUvarint(prefix[:0], uint64(len(e.b)))
		if err := cw.write(prefix); err != nil {
			return err
		}
		if err := cw.write(e.b); err != nil {
			return err
		}
	}
	if _, err := cw.w.Write(binary.BigEndian.AppendUint32(nil, cw.crc)); err != nil {
		return err
	}
	return cw.w.Flush()
}

// encodeEntry appends one sketch's record (the same in versions 1 and 2).
func encodeEntry(e *enc, x *entry) error {
	cfg, err := proto.MarshalOptions{Deterministic: true}.Marshal(x.config)
	if err != nil {
		return err
	}
	e.bytes(cfg)
	e.varint(x.createdAt)
	switch {
	case x.bloom != nil:
		return x.bloom.encode(e)
	case x.hll != nil:
		x.hll.encode(e)
	case x.cms != nil:
		x.cms.encode(e)
	case x.topk != nil:
		x.topk.encode(e)
	case x.td != nil:
		x.td.encode(e)
	}
	return nil
}

// decodeEntry reads one record written by encodeEntry.
func decodeEntry(d *dec) (*entry, error) {
	cfg := &sketchpb.SketchConfig{}
	if err := proto.Unmarshal(d.bytes(), cfg); err != nil || d.err != nil {
		return nil, errCorrupt
	}
	x := &entry{config: cfg, kind: kindOf(cfg), createdAt: d.varint()}
	switch x.kind {
	case sketchpb.SketchKind_SKETCH_KIND_BLOOM:
		x.bloom = decodeBloom(d)
	case sketchpb.SketchKind_SKETCH_KIND_HLL:
		x.hll = decodeHLL(d)
	case sketchpb.SketchKind_SKETCH_KIND_CMS:
		x.cms = decodeCMS(d)
	case sketchpb.SketchKind_SKETCH_KIND_TOPK:
		x.topk = decodeTopK(d)
	case sketchpb.SketchKind_SKETCH_KIND_TDIGEST:
		x.td = decodeTDigest(d)
	default:
		d.fail()
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: sketch %q", errCorrupt, cfg.GetName())
	}
	return x, nil
}

// Restore replaces the whole state with a snapshot's; an empty reader is
// the empty state. A version 2 snapshot is read record by record (memory
// bounded by one sketch); the new state is installed only once all of it,
// checksum included, has been read. On error the state is left as it was.
func (s *Machine) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(1)
	var sketches map[string]*entry
	switch {
	case errors.Is(err, io.EOF):
		sketches, err = map[string]*entry{}, nil
	case err != nil:
		return fmt.Errorf("sketch: restore: %w", err)
	case head[0] == 1:
		sketches, err = restoreV1(br)
	case head[0] == 2:
		sketches, err = restoreV2(br)
	default:
		return fmt.Errorf("sketch: unsupported snapshot version %d", head[0])
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.sketches = sketches
	s.mu.Unlock()
	return nil
}

// restoreV1 reads the version 1 layout, which has no framing: it is read
// whole, as it was written.
func restoreV1(r io.Reader) (map[string]*entry, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("sketch: restore: %w", err)
	}
	d := &dec{b: data[1:]}
	n := d.count(2)
	sketches := make(map[string]*entry, n)
	for range n {
		x, err := decodeEntry(d)
		if err != nil {
			return nil, err
		}
		sketches[x.config.GetName()] = x
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errCorrupt
	}
	return sketches, nil
}

// crcReader reads through br and keeps the CRC of what it read.
type crcReader struct {
	br  *bufio.Reader
	crc uint32
}

func (cr *crcReader) ReadByte() (byte, error) {
	b, err := cr.br.ReadByte()
	if err == nil {
		cr.crc = crc32.Update(cr.crc, castagnoli, []byte{b})
	}
	return b, err
}

func (cr *crcReader) Read(p []byte) (int, error) {
	n, err := cr.br.Read(p)
	cr.crc = crc32.Update(cr.crc, castagnoli, p[:n])
	return n, err
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func restoreV2(br *bufio.Reader) (map[string]*entry, error) {
	cr := &crcReader{br: br}
	if _, err := cr.ReadByte(); err != nil {
		return nil, fmt.Errorf("sketch: restore: %w", err)
	}
	n, err := binary.ReadUvarint(cr)
	if err != nil {
		return nil, fmt.Errorf("sketch: snapshot truncated in its header: %w", truncated(err))
	}
	sketches := map[string]*entry{}
	var rec bytes.Buffer
	for i := uint64(0); i < n; i++ {
		size, err := binary.ReadUvarint(cr)
		if err != nil {
			return nil, fmt.Errorf("sketch: snapshot truncated after %d of %d sketches: %w", i, n, truncated(err))
		}
		if size > maxRecord {
			return nil, fmt.Errorf("%w: record %d is %d bytes long", errCorrupt, i, size)
		}
		rec.Reset()
		if got, err := io.CopyN(&rec, cr, int64(size)); err != nil {
			return nil, fmt.Errorf("sketch: snapshot truncated in sketch %d of %d (%d of its %d bytes): %w", i+1, n, got, size, truncated(err))
		}
		d := &dec{b: rec.Bytes()}
		x, err := decodeEntry(d)
		if err != nil {
			return nil, err
		}
		if len(d.b) != 0 {
			return nil, fmt.Errorf("%w: sketch %q has %d bytes past its end", errCorrupt, x.config.GetName(), len(d.b))
		}
		name := x.config.GetName()
		if _, dup := sketches[name]; dup {
			return nil, fmt.Errorf("%w: sketch %q appears twice", errCorrupt, name)
		}
		sketches[name] = x
	}
	want := cr.crc
	var sum [4]byte
	if _, err := io.ReadFull(br, sum[:]); err != nil {
		return nil, fmt.Errorf("sketch: snapshot truncated in its checksum: %w", truncated(err))
	}
	if got := binary.BigEndian.Uint32(sum[:]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, computed %08x", errCorrupt, got, want)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: bytes past its checksum", errCorrupt)
	}
	return sketches, nil
}

package collections

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
)

// snapshotVersion is the first byte of a snapshot; a new layout gets a new
// version and Restore keeps reading the old ones. Version 2 is version 1's
// layout, written by a writer off the FSM goroutine and read back as it
// arrives, followed by a CRC-32C of everything before it, so a cut-short or
// corrupted snapshot is an error rather than a smaller state.
const (
	snapshotVersion   = 2
	snapshotVersionV1 = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frozenStore is what a writer reads of one store: its keys' hashes or sets
// as they were at the cut (shared copy-on-write), or a queue's cut (its
// messages' pointers, with before-images of what apply changes; cow.go).
type frozenStore struct {
	s      *store
	hashes []frozenKey[*hash]
	sets   []frozenKey[*set]
	queue  *qcut
}

type frozenState struct{ stores []frozenStore }

type frozenKey[T any] struct {
	name string
	v    T
}

// Snapshot takes the cut on the FSM goroutine: per hash or set store the
// list of its keys (pointers; apply copies a key before changing it while
// the writer runs), per queue the list of its messages (pointers; apply
// saves a message's state, time and receive count before changing them)
// and its dedupe window (copied: bounded by its window). The writer sorts and encodes
// the keys later, one at a time. Maps are written in sorted order and sets
// in their slice order, so the restored state makes the same choices (SPOP
// draws, FIFO ties) as the state it was taken from.
func (m *Machine) Snapshot() (func(w io.Writer) error, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gen, applied := m.gen, m.applied
	names := make([]string, 0, len(m.stores))
	for n := range m.stores {
		names = append(names, n)
	}
	sort.Strings(names)
	frozen := make([]frozenStore, 0, len(names))
	var queues []int
	for _, n := range names {
		s := m.stores[n]
		f := frozenStore{s: s}
		switch s.kind {
		case kindHash:
			f.hashes = make([]frozenKey[*hash], 0, len(s.hashes))
			for k, h := range s.hashes {
				f.hashes = append(f.hashes, frozenKey[*hash]{k, h})
			}
		case kindSet:
			f.sets = make([]frozenKey[*set], 0, len(s.sets))
			for k, st := range s.sets {
				f.sets = append(f.sets, frozenKey[*set]{k, st})
			}
		case kindQueue:
			queues = append(queues, len(frozen))
		}
		frozen = append(frozen, f)
	}
	done := m.cow.cut()
	for _, i := range queues {
		frozen[i].queue = frozen[i].s.q.cutQueue(done)
	}
	// A writer that is dropped unrun (raft could not open a sink) must
	// not keep apply copying keys for it.
	fz := &frozenState{stores: frozen}
	runtime.AddCleanup(fz, func(d *cutDone) { d.done.Store(true) }, done)
	return func(w io.Writer) error {
		defer done.done.Store(true)
		// fz's cleanup ends the cut: it must stay reachable until the
		// writer is done, not only until its last use below.
		defer runtime.KeepAlive(fz)
		frozen := fz.stores
		sw := &snapWriter{w: bufio.NewWriterSize(w, 64<<10)}
		e := &enc{}
		e.b = append(e.b, snapshotVersion)
		e.u(gen)
		e.u(applied)
		e.u(uint64(len(frozen)))
		for i := range frozen {
			if err := e.store(&frozen[i], sw); err != nil {
				return err
			}
		}
		if err := sw.put(e); err != nil {
			return err
		}
		if _, err := sw.w.Write(binary.BigEndian.AppendUint32(nil, sw.crc)); err != nil {
			return err
		}
		return sw.w.Flush()
	}, nil
}

// snapWriter writes encoded pieces and keeps the CRC of what it wrote.
type snapWriter struct {
	w   *bufio.Writer
	crc uint32
}

// put writes e's bytes and empties e; maybePut does once they pass 32 KiB.
func (sw *snapWriter) put(e *enc) error {
	sw.crc = crc32.Update(sw.crc, castagnoli, e.b)
	_, err := sw.w.Write(e.b)
	e.b = e.b[:0]
	return err
}

func (sw *snapWriter) maybePut(e *enc) error {
	if len(e.b) < 32<<10 {
		return nil
	}
	return sw.put(e)
}

func (e *enc) store(f *frozenStore, sw *snapWriter) error {
	s := f.s
	cfg, err := proto.MarshalOptions{Deterministic: true}.Marshal(s.cfg)
	if err != nil {
		return fmt.Errorf("collections: snapshot of store %q: %w", s.name, err)
	}
	e.str(s.name)
	e.bytes(cfg)
	e.i(s.createdAt)
	e.u(s.gen)
	switch s.kind {
	case kindHash:
		slices.SortFunc(f.hashes, func(a, b frozenKey[*hash]) int { return strings.Compare(a.name, b.name) })
		e.u(uint64(len(f.hashes)))
		for _, k := range f.hashes {
			h := k.v
			e.str(k.name)
			fields := sortedKeys(h.fields)
			e.u(uint64(len(fields)))
			for _, fl := range fields {
				v := h.fields[fl]
				e.str(fl)
				e.bytes(v.v)
				e.i(v.exp)
				if err := sw.maybePut(e); err != nil {
					return err
				}
			}
		}
	case kindSet:
		slices.SortFunc(f.sets, func(a, b frozenKey[*set]) int { return strings.Compare(a.name, b.name) })
		e.u(uint64(len(f.sets)))
		for _, k := range f.sets {
			e.str(k.name)
			e.u(uint64(len(k.v.list)))
			for _, mb := range k.v.list {
				e.str(mb)
				if err := sw.maybePut(e); err != nil {
					return err
				}
			}
		}
	case kindQueue:
		if err := e.queue(f.queue, sw); err != nil {
			return err
		}
	}
	return sw.maybePut(e)
}

// queue encodes a queue's cut: its messages in push order, each with its
// fields as they were at the cut, then its dedupe window.
func (e *enc) queue(c *qcut, sw *snapWriter) error {
	slices.SortFunc(c.msgs, func(a, b *qmsg) int { return cmp.Compare(a.seq, b.seq) })
	e.u(c.seq)
	e.u(uint64(len(c.msgs)))
	for _, msg := range c.msgs {
		v := c.vals(msg)
		e.u(msg.seq)
		e.str(msg.id)
		e.bytes(msg.payload)
		attrs := sortedKeys(msg.attrs)
		e.u(uint64(len(attrs)))
		for _, k := range attrs {
			e.str(k)
			e.str(msg.attrs[k])
		}
		e.i(msg.pushedAt)
		e.i(v.at)
		e.i(int64(v.receives))
		e.u(uint64(v.state))
		if err := sw.maybePut(e); err != nil {
			return err
		}
	}
	e.u(uint64(len(c.dedupe)))
	for _, d := range c.dedupe {
		e.str(d.id)
		e.i(d.exp)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Restore replaces the state with a snapshot's; an empty reader is the
// empty state. A version 2 snapshot is decoded as it is read, into a fresh
// state that replaces the current one only once the whole snapshot has
// been read and its checksum matched: a corrupt one changes nothing. Every
// waiter is woken, since anything may have changed.
func (m *Machine) Restore(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	fresh := New()
	fresh.cow = m.cow
	first, err := br.Peek(1)
	switch {
	case errors.Is(err, io.EOF):
		// the empty state
	case err != nil:
		return fmt.Errorf("collections: reading snapshot: %w", err)
	case first[0] == snapshotVersionV1:
		data, err := io.ReadAll(br)
		if err != nil {
			return fmt.Errorf("collections: reading snapshot: %w", err)
		}
		d := &dec{b: data[1:]}
		if err := fresh.decode(d); err != nil {
			return fmt.Errorf("collections: restoring snapshot: %w", err)
		}
		if len(d.b) != 0 {
			return fmt.Errorf("collections: restoring snapshot: %w: %d trailing bytes", errCorrupt, len(d.b))
		}
	case first[0] == snapshotVersion:
		d := &rdec{br: br}
		d.byte()
		if err := fresh.decode(d); err != nil {
			return fmt.Errorf("collections: restoring snapshot: %w", err)
		}
		var sum [4]byte
		if _, err := io.ReadFull(br, sum[:]); err != nil {
			return fmt.Errorf("collections: restoring snapshot: %w: it ends before its checksum", errCorrupt)
		}
		if binary.BigEndian.Uint32(sum[:]) != d.crc {
			return fmt.Errorf("collections: restoring snapshot: %w: checksum mismatch", errCorrupt)
		}
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			return fmt.Errorf("collections: restoring snapshot: %w: bytes after the checksum", errCorrupt)
		}
	default:
		return fmt.Errorf("collections: restoring snapshot: %w: unknown version %d", errCorrupt, first[0])
	}
	m.mu.Lock()
	m.stores, m.gen, m.applied, m.ttls = fresh.stores, fresh.gen, fresh.applied, fresh.ttls
	m.mu.Unlock()
	m.notify.FireAll()
	return nil
}

var errCorrupt = errors.New("corrupt snapshot")

// source is what decode reads from: dec (a version 1 snapshot, in memory)
// or rdec (version 2, as it arrives). The first failure sticks; every
// later read answers zero values, and every loop stops at it.
type source interface {
	byte() byte
	u() uint64
	i() int64
	count() int
	bytes() []byte
	str() string
	fail(what string)
	failed() error
}

// decode reads the state after the version byte.
func (m *Machine) decode(d source) error {
	m.gen = d.u()
	m.applied = d.u()
	for n := d.count(); n > 0 && d.failed() == nil; n-- {
		s := &store{name: d.str(), cow: m.cow}
		cfg := &pb.CollectionsStoreConfig{}
		if err := proto.Unmarshal(d.bytes(), cfg); err != nil {
			return fmt.Errorf("%w: store %q config: %v", errCorrupt, s.name, err)
		}
		s.cfg, s.kind = cfg, KindOf(cfg)
		s.createdAt = d.i()
		s.gen = d.u()
		switch s.kind {
		case kindHash:
			s.hashes = map[string]*hash{}
			for nk := d.count(); nk > 0 && d.failed() == nil; nk-- {
				k := d.str()
				h := s.hashFor(k, true)
				for nf := d.count(); nf > 0 && d.failed() == nil; nf-- {
					f, v, exp := d.str(), d.bytes(), d.i()
					s.putField(h, f, v, exp, 0)
					if exp != 0 {
						m.ttls = append(m.ttls, ttlEntry{at: exp, gen: s.gen, store: s.name, key: k, field: f})
					}
				}
			}
		case kindSet:
			s.sets = map[string]*set{}
			for nk := d.count(); nk > 0 && d.failed() == nil; nk-- {
				k := d.str()
				st := s.setFor(k, true)
				for nm := d.count(); nm > 0 && d.failed() == nil; nm-- {
					s.setAdd(k, st, d.str())
				}
			}
		case kindQueue:
			q := newQueue(cfg.GetQueue().GetRetentionMs())
			s.q = q
			q.seq = d.u()
			for nm := d.count(); nm > 0 && d.failed() == nil; nm-- {
				msg := &qmsg{seq: d.u(), id: d.str(), payload: d.bytes()}
				if na := d.count(); na > 0 {
					msg.attrs = make(map[string]string, min(na, 64))
					for ; na > 0 && d.failed() == nil; na-- {
						k := d.str()
						msg.attrs[k] = d.str()
					}
				}
				msg.pushedAt, msg.at, msg.receives = d.i(), d.i(), int32(d.i())
				st := qstate(d.u())
				if st > stInflight {
					d.fail("message state")
				}
				if d.failed() != nil {
					break
				}
				q.msgs[msg.seq] = msg
				s.bytes += int64(len(msg.payload))
				q.put(msg, st)
				if q.retention > 0 {
					q.rfifo = append(q.rfifo, msg.seq)
				}
			}
			for nd := d.count(); nd > 0 && d.failed() == nil; nd-- {
				id, exp := d.str(), d.i()
				q.dedupe[id] = exp
				q.dfifo = append(q.dfifo, dedupeEntry{id: id, exp: exp})
			}
		default:
			d.fail("store kind")
		}
		if d.failed() == nil {
			m.stores[s.name] = s
		}
	}
	if err := d.failed(); err != nil {
		return err
	}
	for _, s := range m.stores {
		if s.q == nil {
			continue
		}
		if dlq := s.cfg.GetQueue().GetDeadLetterQueue(); dlq != "" {
			if t := m.stores[dlq]; t != nil && t.q != nil {
				t.q.dlqRefs++
			}
		}
	}
	heap.Init(&m.ttls)
	return nil
}

type enc struct{ b []byte }

func (e *enc) u(v uint64)     { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i(v int64)      { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)   { e.u(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bytes(p []byte) { e.u(uint64(len(p))); e.b = append(e.b, p...) }
func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *dec) failed() error { return d.err }

// dec reads what enc wrote; the first failure sticks and every later read
// answers zero values, so decoding garbage ends quickly and never panics.
type dec struct {
	b   []byte
	err error
}

func (d *dec) byte() byte {
	if len(d.b) == 0 {
		d.fail("length")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) u() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) i() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit in what remains (each item takes at
// least one byte), so garbage cannot make a loop run for long.
func (d *dec) count() int {
	v := d.u()
	if v > uint64(len(d.b)) {
		d.fail("count")
		return 0
	}
	return int(v)
}

func (d *dec) bytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	p := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return p
}

func (d *dec) str() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// rdec reads a version 2 snapshot as it arrives, keeping the CRC of what
// it consumed. A length is never trusted for an allocation: a value grows
// as its bytes actually arrive, so garbage ends at the end of the input.
type rdec struct {
	br  *bufio.Reader
	crc uint32
	err error
	one [1]byte
}

func (d *rdec) failed() error { return d.err }

func (d *rdec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", errCorrupt, what)
	}
}

func (d *rdec) ioFail(err error) {
	if d.err == nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			d.err = fmt.Errorf("%w: it ends early (cut short)", errCorrupt)
		} else {
			d.err = fmt.Errorf("collections: reading snapshot: %w", err)
		}
	}
}

func (d *rdec) byte() byte {
	if d.err != nil {
		return 0
	}
	c, err := d.br.ReadByte()
	if err != nil {
		d.ioFail(err)
		return 0
	}
	d.one[0] = c
	d.crc = crc32.Update(d.crc, castagnoli, d.one[:])
	return c
}

func (d *rdec) u() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c := d.byte()
		if d.err != nil {
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	d.fail("varint")
	return 0
}

func (d *rdec) i() int64 {
	u := d.u()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *rdec) count() int {
	v := d.u()
	if v > 1<<40 {
		d.fail("count")
		return 0
	}
	return int(v)
}

func (d *rdec) bytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	p := make([]byte, 0, min(n, 64<<10))
	for len(p) < n {
		k := min(n-len(p), 1<<20)
		p = slices.Grow(p, k)
		chunk := p[len(p) : len(p)+k]
		if _, err := io.ReadFull(d.br, chunk); err != nil {
			d.ioFail(err)
			return nil
		}
		d.crc = crc32.Update(d.crc, castagnoli, chunk)
		p = p[:len(p)+k]
	}
	return p
}

func (d *rdec) str() string { return string(d.bytes()) }

package collections

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
)

// snapshotVersion is the first byte of a snapshot; a new layout gets a new
// version and Restore keeps reading the old ones.
const snapshotVersion = 1

// Snapshot encodes the whole state now (on the FSM goroutine, so no apply
// interleaves) and returns a writer of those bytes. Maps are written in
// sorted order and sets in their slice order, so the restored state makes the
// same choices (SPOP draws, FIFO ties) as the state it was taken from.
func (m *Machine) Snapshot() (func(w io.Writer) error, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := &enc{}
	e.b = append(e.b, snapshotVersion)
	e.u(m.gen)
	e.u(m.applied)
	names := make([]string, 0, len(m.stores))
	for n := range m.stores {
		names = append(names, n)
	}
	sort.Strings(names)
	e.u(uint64(len(names)))
	for _, n := range names {
		if err := e.store(m.stores[n]); err != nil {
			return nil, err
		}
	}
	b := e.b
	return func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, nil
}

func (e *enc) store(s *store) error {
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
		keys := sortedKeys(s.hashes)
		e.u(uint64(len(keys)))
		for _, k := range keys {
			h := s.hashes[k]
			e.str(k)
			fields := sortedKeys(h.fields)
			e.u(uint64(len(fields)))
			for _, f := range fields {
				v := h.fields[f]
				e.str(f)
				e.bytes(v.v)
				e.i(v.exp)
			}
		}
	case kindSet:
		keys := sortedKeys(s.sets)
		e.u(uint64(len(keys)))
		for _, k := range keys {
			st := s.sets[k]
			e.str(k)
			e.u(uint64(len(st.list)))
			for _, mb := range st.list {
				e.str(mb)
			}
		}
	case kindQueue:
		q := s.q
		e.u(q.seq)
		seqs := make([]uint64, 0, len(q.msgs))
		for seq := range q.msgs {
			seqs = append(seqs, seq)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		e.u(uint64(len(seqs)))
		for _, seq := range seqs {
			msg := q.msgs[seq]
			e.u(seq)
			e.str(msg.id)
			e.bytes(msg.payload)
			attrs := sortedKeys(msg.attrs)
			e.u(uint64(len(attrs)))
			for _, k := range attrs {
				e.str(k)
				e.str(msg.attrs[k])
			}
			e.i(msg.pushedAt)
			e.i(msg.at)
			e.i(int64(msg.receives))
			e.u(uint64(msg.state))
		}
		live := q.dfifo[q.dhead:]
		e.u(uint64(len(live)))
		for _, d := range live {
			e.str(d.id)
			e.i(d.exp)
		}
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
// empty state. Every waiter is woken, since anything may have changed.
func (m *Machine) Restore(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("collections: reading snapshot: %w", err)
	}
	fresh := New()
	if len(data) > 0 {
		if err := fresh.decode(data); err != nil {
			return fmt.Errorf("collections: restoring snapshot: %w", err)
		}
	}
	m.mu.Lock()
	m.stores, m.gen, m.applied, m.ttls = fresh.stores, fresh.gen, fresh.applied, fresh.ttls
	m.mu.Unlock()
	m.notify.FireAll()
	return nil
}

var errCorrupt = errors.New("corrupt snapshot")

func (m *Machine) decode(data []byte) error {
	d := &dec{b: data}
	if d.byte() != snapshotVersion {
		return fmt.Errorf("%w: unknown version", errCorrupt)
	}
	m.gen = d.u()
	m.applied = d.u()
	n := d.count()
	for range n {
		if d.err != nil {
			break
		}
		s := &store{name: d.str()}
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
			for range d.count() {
				k := d.str()
				h := s.hashFor(k, true)
				for range d.count() {
					f, v, exp := d.str(), d.bytes(), d.i()
					s.putField(h, f, v, exp, 0)
					if exp != 0 {
						m.ttls = append(m.ttls, ttlEntry{at: exp, gen: s.gen, store: s.name, key: k, field: f})
					}
				}
			}
		case kindSet:
			s.sets = map[string]*set{}
			for range d.count() {
				k := d.str()
				st := s.setFor(k, true)
				for range d.count() {
					s.setAdd(k, st, d.str())
				}
			}
		case kindQueue:
			q := newQueue(cfg.GetQueue().GetRetentionMs())
			s.q = q
			q.seq = d.u()
			for range d.count() {
				msg := &qmsg{seq: d.u(), id: d.str(), payload: d.bytes()}
				if na := d.count(); na > 0 {
					msg.attrs = make(map[string]string, na)
					for range na {
						k := d.str()
						msg.attrs[k] = d.str()
					}
				}
				msg.pushedAt, msg.at, msg.receives = d.i(), d.i(), int32(d.i())
				st := qstate(d.u())
				if st > stInflight {
					d.fail("message state")
				}
				q.msgs[msg.seq] = msg
				s.bytes += int64(len(msg.payload))
				q.put(msg, st)
				if q.retention > 0 {
					q.rfifo = append(q.rfifo, msg.seq)
				}
			}
			for range d.count() {
				id, exp := d.str(), d.i()
				q.dedupe[id] = exp
				q.dfifo = append(q.dfifo, dedupeEntry{id: id, exp: exp})
			}
		default:
			d.fail("store kind")
		}
		if d.err == nil {
			m.stores[s.name] = s
		}
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
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

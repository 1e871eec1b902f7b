package kv

import (
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"sort"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
)

// The snapshot is gob: a header, then one record per bucket, so that a large
// state is streamed rather than built as one value.

type snapHeader struct {
	Version int
	LastID  uint64
	Buckets int
	Dedup   []snapDedup
}

type snapDedup struct {
	ID     string
	Op     uint16
	Code   string
	Msg    string
	Rev    uint64
	Expiry int64
}

type snapBucket struct {
	ID          uint64
	Name        string
	Description string
	History     uint32
	TTLMs       int64
	MaxValue    int64
	MaxBytes    int64
	CreatedAtMs int64
	Rev         uint64
	Entries     []snapEntry // every retained entry, in revision order
}

type snapEntry struct {
	Key   string
	Value []byte
	Rev   uint64
	AtMs  int64
	Op    int32
}

const snapVersion = 1

// Snapshot freezes the state (entries are immutable, so it copies only the
// lists of them) and returns the function that writes it.
func (m *Machine) Snapshot() (func(w io.Writer) error, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	hdr := snapHeader{Version: snapVersion, LastID: m.lastID, Buckets: len(m.buckets)}
	for _, k := range m.dedupQ {
		if d, ok := m.dedup[k.id]; ok && d.expiry == k.expiry {
			hdr.Dedup = append(hdr.Dedup, snapDedup{ID: k.id, Op: d.op, Code: d.code, Msg: d.msg, Rev: d.rev, Expiry: d.expiry})
		}
	}
	type frozen struct {
		b   *bucket
		cfg *kvpb.KVBucketConfig
		rev uint64
		log []*kvpb.KVEntry
	}
	names := make([]string, 0, len(m.buckets))
	for n := range m.buckets {
		names = append(names, n)
	}
	sort.Strings(names)
	fr := make([]frozen, 0, len(names))
	for _, n := range names {
		b := m.buckets[n]
		f := frozen{b: b, cfg: b.cfg, rev: b.rev, log: make([]*kvpb.KVEntry, 0, len(b.log)-b.head-b.removed)}
		for _, e := range b.log[b.head:] {
			if !e.removed {
				f.log = append(f.log, e.pb)
			}
		}
		fr = append(fr, f)
	}
	return func(w io.Writer) error {
		enc := gob.NewEncoder(w)
		if err := enc.Encode(hdr); err != nil {
			return err
		}
		for _, f := range fr {
			sb := snapBucket{
				ID: f.b.id, Name: f.cfg.Name, Description: f.cfg.Description, History: f.cfg.History,
				TTLMs: f.cfg.TtlMs, MaxValue: f.cfg.MaxValueSize, MaxBytes: f.cfg.MaxBytes,
				CreatedAtMs: f.b.createdAtMs, Rev: f.rev, Entries: make([]snapEntry, len(f.log)),
			}
			for i, e := range f.log {
				sb.Entries[i] = snapEntry{Key: e.Key, Value: e.Value, Rev: e.Revision, AtMs: e.CreatedAtMs, Op: int32(e.Operation)}
			}
			if err := enc.Encode(sb); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// Restore replaces the whole state with a snapshot; an empty reader means
// the empty state. Watchers are woken, since anything may have changed.
func (m *Machine) Restore(r io.Reader) error {
	dec := gob.NewDecoder(r)
	var hdr snapHeader
	buckets := map[string]*bucket{}
	dedup := map[string]dedupRec{}
	var dedupQ []dedupKey
	err := dec.Decode(&hdr)
	switch {
	case errors.Is(err, io.EOF):
		// empty state
	case err != nil:
		return fmt.Errorf("kv: restore header: %w", err)
	case hdr.Version != snapVersion:
		return fmt.Errorf("kv: restore: unknown snapshot version %d", hdr.Version)
	default:
		for _, d := range hdr.Dedup {
			dedup[d.ID] = dedupRec{op: d.Op, code: d.Code, msg: d.Msg, rev: d.Rev, expiry: d.Expiry}
			dedupQ = append(dedupQ, dedupKey{d.ID, d.Expiry})
		}
		for i := 0; i < hdr.Buckets; i++ {
			var sb snapBucket
			if err := dec.Decode(&sb); err != nil {
				return fmt.Errorf("kv: restore bucket %d: %w", i, err)
			}
			b := &bucket{
				id: sb.ID,
				cfg: &kvpb.KVBucketConfig{Name: sb.Name, Description: sb.Description, History: sb.History,
					TtlMs: sb.TTLMs, MaxValueSize: sb.MaxValue, MaxBytes: sb.MaxBytes},
				createdAtMs: sb.CreatedAtMs, rev: sb.Rev, keys: map[string]*keyState{},
				log: make([]*entry, 0, len(sb.Entries)),
			}
			for _, se := range sb.Entries {
				e := &entry{pb: &kvpb.KVEntry{Bucket: sb.Name, Key: se.Key, Value: se.Value, Revision: se.Rev,
					CreatedAtMs: se.AtMs, Operation: kvpb.KVOperation(se.Op)}}
				k := b.keys[se.Key]
				if k == nil {
					k = &keyState{}
					b.keys[se.Key] = k
				}
				k.hist = append(k.hist, e)
				b.log = append(b.log, e)
				b.bytes += e.size()
				b.entries++
			}
			for _, k := range b.keys {
				if k.live() {
					b.live++
				}
			}
			buckets[sb.Name] = b
		}
	}
	m.mu.Lock()
	m.buckets, m.lastID, m.dedup, m.dedupQ = buckets, hdr.LastID, dedup, dedupQ
	m.mu.Unlock()
	m.notify.FireAll()
	return nil
}

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
	// Version 2: the change log holds revisions ChangesFrom..Rev (none when
	// ChangesFrom is 0): the retained entries among them, plus Changes,
	// the ones the history no longer retains, in revision order. Hole is
	// the bucket's hole.
	ChangesFrom uint64
	Changes     []snapEntry
	Hole        uint64
	// Version 3: Entries and Changes are empty, and NumEntries then
	// NumChanges snapEntry values follow the record, one at a time, so
	// neither the writer nor Restore builds a bucket's list whole.
	NumEntries, NumChanges int
}

type snapEntry struct {
	Key   string
	Value []byte
	Rev   uint64
	AtMs  int64
	Op    int32
}

// snapVersion 3 streams entries one by one; 2 added the change log; a version 1 snapshot restores with
// an empty one and a hole at its revision (a watch resuming from before it
// gets compacted, never a gap).
const snapVersion = 3

// Snapshot freezes the state (entries are immutable, so it copies only the
// lists of them) and returns the function that writes it.
func (m *Machine) Snapshot() (func(w io.Writer) error, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	hdr := snapHeader{Version: snapVersion, LastID: m.lastID, Buckets: len(m.buckets)}
	type frozen struct {
		b       *bucket
		cfg     *kvpb.KVBucketConfig
		rev     uint64
		log     []*kvpb.KVEntry
		from    uint64
		changes []*kvpb.KVEntry // the change log's entries not in log
		hole    uint64
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
		if b.changes.len() > 0 {
			f.from = b.changes.from(b.rev)
			for _, e := range b.changes.log[b.changes.head:] {
				if e.removed {
					f.changes = append(f.changes, e.pb)
				}
			}
		}
		f.hole = b.hole
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
				CreatedAtMs: f.b.createdAtMs, Rev: f.rev,
				ChangesFrom: f.from, Hole: f.hole, NumEntries: len(f.log), NumChanges: len(f.changes),
			}
			if err := enc.Encode(sb); err != nil {
				return err
			}
			for _, list := range [][]*kvpb.KVEntry{f.log, f.changes} {
				for _, e := range list {
					if err := enc.Encode(toSnapEntry(e)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}, nil
}

func toSnapEntry(e *kvpb.KVEntry) snapEntry {
	return snapEntry{Key: e.Key, Value: e.Value, Rev: e.Revision, AtMs: e.CreatedAtMs, Op: int32(e.Operation)}
}

func (se snapEntry) entry(bucket string) *entry {
	return &entry{pb: &kvpb.KVEntry{Bucket: bucket, Key: se.Key, Value: se.Value, Revision: se.Rev,
		CreatedAtMs: se.AtMs, Operation: kvpb.KVOperation(se.Op)}}
}

// restoreChanges rebuilds a bucket's change log from its snapshot record:
// the retained entries from ChangesFrom on, merged with the ones only the
// change log held. A record that does not add up to consecutive revisions
// up to Rev leaves the log empty with a hole at Rev, so a watch resuming
// from before gets compacted rather than a gap.
func restoreChanges(b *bucket, sb *snapBucket, version, maxChanges int, maxBytes int64) {
	b.hole = sb.Hole
	if version == 1 {
		b.hole = sb.Rev
	}
	if sb.ChangesFrom == 0 {
		return
	}
	log := b.log
	i := sort.Search(len(log), func(i int) bool { return log[i].pb.Revision >= sb.ChangesFrom })
	next := sb.ChangesFrom
	var merged []*entry
	j := 0
	for i < len(log) || j < len(sb.Changes) {
		var e *entry
		if j < len(sb.Changes) && (i == len(log) || sb.Changes[j].Rev < log[i].pb.Revision) {
			e = sb.Changes[j].entry(sb.Name)
			e.removed = true
			j++
		} else {
			e = log[i]
			i++
		}
		if e.pb.Revision != next {
			b.hole = sb.Rev
			return
		}
		merged = append(merged, e)
		next++
	}
	if next != sb.Rev+1 {
		b.hole = sb.Rev
		return
	}
	for _, e := range merged {
		b.record(e, maxChanges, maxBytes)
	}
}

// Restore replaces the whole state with a snapshot; an empty reader means
// the empty state. Watchers are woken, since anything may have changed.
func (m *Machine) Restore(r io.Reader) error {
	dec := gob.NewDecoder(r)
	var hdr snapHeader
	buckets := map[string]*bucket{}
	m.mu.RLock()
	maxChanges, maxBytes := m.maxChanges, m.maxChangeBytes
	m.mu.RUnlock()
	err := dec.Decode(&hdr)
	switch {
	case errors.Is(err, io.EOF):
		// empty state
	case err != nil:
		return fmt.Errorf("kv: restore header: %w", err)
	case hdr.Version < 1 || hdr.Version > snapVersion:
		return fmt.Errorf("kv: restore: unknown snapshot version %d", hdr.Version)
	default:
		// Older snapshots also carried KV's own memory of request ids; gob
		// skips it: the FSM remembers request ids for every subsystem now.
		for i := 0; i < hdr.Buckets; i++ {
			var sb snapBucket
			if err := dec.Decode(&sb); err != nil {
				return fmt.Errorf("kv: restore bucket %d: %w", i, err)
			}
			if sb.NumEntries < 0 || sb.NumChanges < 0 {
				return fmt.Errorf("kv: restore bucket %d: bad entry counts", i)
			}
			b := &bucket{
				id: sb.ID,
				cfg: &kvpb.KVBucketConfig{Name: sb.Name, Description: sb.Description, History: sb.History,
					TtlMs: sb.TTLMs, MaxValueSize: sb.MaxValue, MaxBytes: sb.MaxBytes},
				createdAtMs: sb.CreatedAtMs, rev: sb.Rev, keys: map[string]*keyState{},
				log: make([]*entry, 0, len(sb.Entries)+min(sb.NumEntries, 1<<16)),
			}
			add := func(se snapEntry) {
				e := se.entry(sb.Name)
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
			for _, se := range sb.Entries {
				add(se)
			}
			// Version 3: the entries follow the record; each becomes
			// state as it is decoded.
			for range sb.NumEntries {
				var se snapEntry
				if err := dec.Decode(&se); err != nil {
					return fmt.Errorf("kv: restore bucket %d: %w", i, err)
				}
				add(se)
			}
			if sb.NumChanges > 0 {
				sb.Changes = make([]snapEntry, 0, min(sb.NumChanges, 1<<16))
				for range sb.NumChanges {
					var se snapEntry
					if err := dec.Decode(&se); err != nil {
						return fmt.Errorf("kv: restore bucket %d: %w", i, err)
					}
					sb.Changes = append(sb.Changes, se)
				}
			}
			for _, k := range b.keys {
				if k.live() {
					b.live++
				}
			}
			restoreChanges(b, &sb, hdr.Version, maxChanges, maxBytes)
			buckets[sb.Name] = b
		}
	}
	m.mu.Lock()
	m.buckets, m.lastID = buckets, hdr.LastID
	m.mu.Unlock()
	m.notify.FireAll()
	return nil
}

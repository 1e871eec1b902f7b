package lock

import (
	"bufio"
	"cmp"
	"container/heap"
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
)

// snapVersion is the version of the snapshot layout below. Version 3
// streams: a snapState header holding only the scalars and the counts of
// each kind of record, then the records one JSON value each (fences,
// leases, waiters, tombstones, holder histories), then a snapEnd, so
// neither the writer nor Restore holds the table twice. Version 2 was one
// snapState value with every list inside; it added grant values and the
// holder history (Observe); a version 1 snapshot restores with neither (no
// values, an empty history from revision 0).
const snapVersion = 3

// snapState is the whole table as a snapshot holds it. Holders and queues
// are not stored: they follow from the leases (by id, which is grant order)
// and the waiters (by enqueue order, the global FIFO order).
type snapState struct {
	Version    int          `json:"v"`
	Clock      int64        `json:"clock"`
	Floor      uint64       `json:"floor"`
	LeaseSeq   uint64       `json:"lease_seq"`
	AttemptSeq uint64       `json:"attempt_seq"`
	OrderSeq   uint64       `json:"order_seq"`
	Fences     []snapFence  `json:"fences"`
	Leases     []snapLease  `json:"leases"`
	Waiters    []snapWaiter `json:"waiters"`
	Tombs      []snapTomb   `json:"tombs"`
	// Version 2.
	HolderRev   uint64        `json:"hrev,omitempty"`
	HolderFloor uint64        `json:"hfloor,omitempty"`
	Holders     []snapHistory `json:"holders,omitempty"` // least recently changed first
	// LeaderExpiry: leases end only by the leader's expiry command
	// (checkpoint.go); absent in older snapshots.
	LeaderExpiry bool `json:"leader_expiry,omitempty"`
	// Version 3: how many records of each kind follow the header.
	NumFences  int `json:"nf,omitempty"`
	NumLeases  int `json:"nl,omitempty"`
	NumWaiters int `json:"nw,omitempty"`
	NumTombs   int `json:"nt,omitempty"`
	NumHolders int `json:"nh,omitempty"`
}

// snapEnd closes a version 3 snapshot, so a cut-short one is an error
// rather than a smaller table.
type snapEnd struct {
	End string `json:"end"`
}

const snapEndMark = "lock"

type snapFence struct {
	Key   string `json:"k"`
	Fence uint64 `json:"f"`
	Rev   uint64 `json:"r,omitempty"`
}

type snapLease struct {
	ID        uint64   `json:"id"`
	ReqID     string   `json:"req"`
	Keys      []string `json:"keys"`
	Mode      int32    `json:"mode"`
	Fences    []uint64 `json:"fences"`
	TTLMs     int64    `json:"ttl"`
	GrantedAt int64    `json:"granted"`
	ExpiresAt int64    `json:"expires"`
	Value     []byte   `json:"value,omitempty"`
}

type snapWaiter struct {
	ReqID    string   `json:"req"`
	Keys     []string `json:"keys"`
	Mode     int32    `json:"mode"`
	TTLMs    int64    `json:"ttl"`
	Deadline int64    `json:"deadline"`
	Order    uint64   `json:"order"`
	Attempt  uint64   `json:"attempt"`
	Value    []byte   `json:"value,omitempty"`
}

type snapTomb struct {
	ID      uint64 `json:"id"`
	ReqID   string `json:"req"`
	Reason  int32  `json:"reason"`
	EndedAt int64  `json:"ended"`
}

// Snapshot implements fsm.Subsystem. The cut, on the FSM goroutine, copies
// only pointers: the live leases, waiters and keys (their records stay
// shared; strings, key lists and fence lists never change once stored), the
// tombstone queue and the bounded holder history. The few fields apply
// changes in place (a lease's TTL and expiry, a waiter's attempt, deadline
// and TTL, a key's fence and holder revision) are saved by apply, before
// their first change, into the cut's before-images while the writer runs
// (cut.go). The writer sorts and encodes one record at a time.
func (s *Machine) Snapshot() (func(io.Writer) error, error) {
	fr := s.cutLocked()
	return fr.write, nil
}

// frozen is what a snapshot writer reads: the cut's pointers and scalars.
type frozen struct {
	c       *cut
	hdr     snapState
	leases  []*lease
	waiters []*waiter
	keys    []keyRef
	tombs   []*tomb
	holders []frozenHistory
}

// frozenHistory is one key's holder record at the cut: its changes slice
// copied (apply trims it in place), the strings in it shared.
type frozenHistory struct {
	key     string
	trimmed uint64
	changes []change
}

type keyRef struct {
	name string
	ks   *keyState
}

func (s *Machine) cutLocked() *frozen {
	t := s.Table
	t.mu.Lock()
	defer t.mu.Unlock()
	c := &cut{leaseSeq: t.leaseSeq, orderSeq: t.orderSeq}
	fr := &frozen{c: c, hdr: snapState{Version: snapVersion, Clock: t.clock, Floor: t.floor, LeaseSeq: t.leaseSeq, AttemptSeq: t.attemptSeq, OrderSeq: t.orderSeq, LeaderExpiry: t.leaderExpiry}}
	fr.leases = make([]*lease, 0, len(t.leases))
	for _, l := range t.leases {
		fr.leases = append(fr.leases, l)
	}
	fr.waiters = make([]*waiter, 0, len(t.waiters))
	for _, w := range t.waiters {
		fr.waiters = append(fr.waiters, w)
	}
	fr.keys = make([]keyRef, 0, len(t.keys))
	for k, ks := range t.keys {
		fr.keys = append(fr.keys, keyRef{k, ks})
	}
	fr.tombs = slices.Clone(t.tombQ)
	if h := t.hist; h != nil {
		fr.hdr.HolderRev, fr.hdr.HolderFloor = h.rev, h.floor
		fr.holders = make([]frozenHistory, 0, h.lru.Len())
		for e := h.lru.Front(); e != nil; e = e.Next() {
			kh := e.Value.(*keyHistory)
			fr.holders = append(fr.holders, frozenHistory{kh.key, kh.trimmed, slices.Clone(kh.changes)})
		}
	}
	fr.hdr.NumFences, fr.hdr.NumLeases, fr.hdr.NumWaiters, fr.hdr.NumTombs, fr.hdr.NumHolders = len(fr.keys), len(fr.leases), len(fr.waiters), len(fr.tombs), len(fr.holders)
	t.addCut(c)
	// A writer that is dropped unrun (raft could not open a sink) must not
	// leave apply saving before-images for ever.
	runtime.AddCleanup(fr, func(c *cut) { c.done.Store(true) }, c)
	return fr
}

func (fr *frozen) write(w io.Writer) error {
	defer fr.c.done.Store(true)
	// fr's cleanup ends the cut: it must stay reachable until the writer
	// is done, not only until its last use.
	defer runtime.KeepAlive(fr)
	slices.SortFunc(fr.leases, func(a, b *lease) int { return cmp.Compare(a.id, b.id) })
	slices.SortFunc(fr.waiters, func(a, b *waiter) int { return cmp.Compare(a.order, b.order) })
	slices.SortFunc(fr.keys, func(a, b keyRef) int { return strings.Compare(a.name, b.name) })
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(&fr.hdr); err != nil {
		return fmt.Errorf("lock snapshot: %w", err)
	}
	c := fr.c
	for _, k := range fr.keys {
		v := c.keyVals(k.ks)
		if err := enc.Encode(snapFence{k.name, v.fence, v.holderRev}); err != nil {
			return fmt.Errorf("lock snapshot: %w", err)
		}
	}
	for _, l := range fr.leases {
		v := c.leaseVals(l)
		if err := enc.Encode(snapLease{l.id, l.reqID, l.keys, int32(l.mode), l.fences, v.ttlMs, l.grantedAt, v.expiresAt, bytesOf(l.value)}); err != nil {
			return fmt.Errorf("lock snapshot: %w", err)
		}
	}
	for _, wt := range fr.waiters {
		v := c.waiterVals(wt)
		if err := enc.Encode(snapWaiter{wt.reqID, wt.keys, int32(wt.mode), v.ttlMs, v.deadline, wt.order, v.attempt, bytesOf(wt.value)}); err != nil {
			return fmt.Errorf("lock snapshot: %w", err)
		}
	}
	for _, tb := range fr.tombs {
		if err := enc.Encode(snapTomb{tb.id, tb.reqID, int32(tb.reason), tb.endedAt}); err != nil {
			return fmt.Errorf("lock snapshot: %w", err)
		}
	}
	for _, fh := range fr.holders {
		sh := snapHistory{Key: fh.key, Trimmed: fh.trimmed, Changes: make([]snapChange, len(fh.changes))}
		for i, c := range fh.changes {
			sh.Changes[i] = snapChange{c.rev, int32(c.typ), c.leaseID, int32(c.mode), c.fence, bytesOf(c.value), c.atMs}
		}
		if err := enc.Encode(&sh); err != nil {
			return fmt.Errorf("lock snapshot: %w", err)
		}
	}
	if err := enc.Encode(snapEnd{snapEndMark}); err != nil {
		return fmt.Errorf("lock snapshot: %w", err)
	}
	return bw.Flush()
}

// Restore implements fsm.Subsystem: it replaces the whole state (an empty
// reader means the empty state) and wakes every waiting handler. Version 3
// is decoded one record at a time into a fresh table, which replaces the
// state only once the snapshot has been read whole: a corrupt or cut-short
// snapshot is an error and leaves the state as it was.
func (s *Machine) Restore(r io.Reader) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var st snapState
	empty := false
	if err := dec.Decode(&st); err != nil {
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("lock: snapshot header: %w", err)
		}
		st, empty = snapState{Version: snapVersion}, true
	}
	if st.Version < 1 || st.Version > snapVersion {
		return fmt.Errorf("lock: snapshot version %d, want 1 to %d", st.Version, snapVersion)
	}
	fresh := NewTable(s.prefix, 0)
	if s.hist != nil {
		fresh.hist = newHistory()
	}
	if !empty {
		if err := fresh.restore(&st, dec); err != nil {
			return err
		}
	}
	s.adopt(fresh)
	s.notify.FireAll()
	if s.hist != nil {
		s.hist.notify.FireAll()
	}
	return nil
}

// adopt takes over n's state, keeping t's subscriptions.
func (t *Table) adopt(n *Table) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clock, t.floor, t.leaseSeq, t.attemptSeq, t.orderSeq = n.clock, n.floor, n.leaseSeq, n.attemptSeq, n.orderSeq
	t.keys, t.leases, t.byReq, t.waiters = n.keys, n.leases, n.byReq, n.waiters
	t.expiries, t.waits = n.expiries, n.waits
	t.tombs, t.tombReq, t.tombQ = n.tombs, n.tombReq, n.tombQ
	t.leaderExpiry, t.dirty = n.leaderExpiry, n.dirty
	if t.hist != nil {
		t.hist.rev, t.hist.floor, t.hist.keys, t.hist.bytes = n.hist.rev, n.hist.floor, n.hist.keys, n.hist.bytes
		t.hist.lru = list.List{}
		t.hist.lru.Init()
		for e := n.hist.lru.Front(); e != nil; e = e.Next() {
			kh := e.Value.(*keyHistory)
			kh.elem = t.hist.lru.PushBack(kh)
		}
	}
	// The records apply changes from now on are new ones; a writer still
	// running reads the old ones, which nothing changes any more.
	t.cuts = nil
}

// restore fills an empty table from a snapshot: st's lists (versions 1 and
// 2) or, for version 3, the records that follow st in dec.
func (t *Table) restore(st *snapState, dec *json.Decoder) error {
	t.clock, t.floor, t.leaseSeq, t.attemptSeq, t.orderSeq = st.Clock, st.Floor, st.LeaseSeq, st.AttemptSeq, st.OrderSeq
	t.leaderExpiry = st.LeaderExpiry
	if t.hist != nil {
		t.hist.rev, t.hist.floor = st.HolderRev, st.HolderFloor
	}
	if st.Version < snapVersion {
		for _, f := range st.Fences {
			t.restoreFence(f)
		}
		for _, sl := range st.Leases {
			if err := t.restoreLease(sl); err != nil {
				return err
			}
		}
		for _, sw := range st.Waiters {
			if err := t.restoreWaiter(sw); err != nil {
				return err
			}
		}
		for _, s := range st.Tombs {
			t.restoreTomb(s)
		}
		for _, sh := range st.Holders {
			if err := t.restoreHistory(sh); err != nil {
				return err
			}
		}
		return nil
	}
	if st.NumFences < 0 || st.NumLeases < 0 || st.NumWaiters < 0 || st.NumTombs < 0 || st.NumHolders < 0 {
		return fmt.Errorf("lock: snapshot header has a negative record count")
	}
	next := func(what string, i int, v any) error {
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("lock: snapshot %s %d: %w", what, i, unexpectedEOF(err))
		}
		return nil
	}
	for i := range st.NumFences {
		var f snapFence
		if err := next("fence", i, &f); err != nil {
			return err
		}
		t.restoreFence(f)
	}
	for i := range st.NumLeases {
		var sl snapLease
		if err := next("lease", i, &sl); err != nil {
			return err
		}
		if err := t.restoreLease(sl); err != nil {
			return err
		}
	}
	for i := range st.NumWaiters {
		var sw snapWaiter
		if err := next("waiter", i, &sw); err != nil {
			return err
		}
		if err := t.restoreWaiter(sw); err != nil {
			return err
		}
	}
	for i := range st.NumTombs {
		var s snapTomb
		if err := next("tombstone", i, &s); err != nil {
			return err
		}
		t.restoreTomb(s)
	}
	for i := range st.NumHolders {
		var sh snapHistory
		if err := next("holder history", i, &sh); err != nil {
			return err
		}
		if err := t.restoreHistory(sh); err != nil {
			return err
		}
	}
	var end snapEnd
	if err := next("end", 0, &end); err != nil {
		return err
	}
	if end.End != snapEndMark {
		return fmt.Errorf("lock: snapshot does not end where its header says")
	}
	return nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (t *Table) restoreFence(f snapFence) {
	t.keys[f.Key] = &keyState{fence: f.Fence, holderRev: f.Rev}
}

func (t *Table) restoreLease(sl snapLease) error {
	if len(sl.Keys) == 0 || len(sl.Fences) != len(sl.Keys) {
		return fmt.Errorf("lock: snapshot lease %d is malformed", sl.ID)
	}
	if t.leases[sl.ID] != nil || t.byReq[sl.ReqID] != nil {
		return fmt.Errorf("lock: snapshot lease %d appears twice", sl.ID)
	}
	l := &lease{id: sl.ID, reqID: sl.ReqID, keys: sl.Keys, mode: lockpb.LockMode(sl.Mode), fences: sl.Fences, ttlMs: sl.TTLMs, grantedAt: sl.GrantedAt, expiresAt: sl.ExpiresAt, value: string(sl.Value)}
	for _, k := range l.keys {
		t.key(k).holders = append(t.key(k).holders, l)
	}
	t.leases[l.id] = l
	t.byReq[l.reqID] = l
	heap.Push(&t.expiries, l)
	return nil
}

func (t *Table) restoreWaiter(sw snapWaiter) error {
	if len(sw.Keys) == 0 {
		return fmt.Errorf("lock: snapshot waiter %q is malformed", sw.ReqID)
	}
	if t.waiters[sw.ReqID] != nil {
		return fmt.Errorf("lock: snapshot waiter %q appears twice", sw.ReqID)
	}
	t.enqueue(&waiter{reqID: sw.ReqID, keys: sw.Keys, mode: lockpb.LockMode(sw.Mode), ttlMs: sw.TTLMs, deadline: sw.Deadline, order: sw.Order, attempt: sw.Attempt, value: string(sw.Value)})
	return nil
}

func (t *Table) restoreTomb(s snapTomb) {
	tb := &tomb{id: s.ID, reqID: s.ReqID, reason: lockpb.LockEventType(s.Reason), endedAt: s.EndedAt}
	t.tombs[tb.id] = tb
	t.tombReq[tb.reqID] = tb
	t.tombQ = append(t.tombQ, tb)
}

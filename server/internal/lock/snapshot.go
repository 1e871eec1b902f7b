package lock

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
)

// snapVersion is the version of the snapshot layout below.
const snapVersion = 1

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
}

type snapFence struct {
	Key   string `json:"k"`
	Fence uint64 `json:"f"`
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
}

type snapWaiter struct {
	ReqID    string   `json:"req"`
	Keys     []string `json:"keys"`
	Mode     int32    `json:"mode"`
	TTLMs    int64    `json:"ttl"`
	Deadline int64    `json:"deadline"`
	Order    uint64   `json:"order"`
	Attempt  uint64   `json:"attempt"`
}

type snapTomb struct {
	ID      uint64 `json:"id"`
	ReqID   string `json:"req"`
	Reason  int32  `json:"reason"`
	EndedAt int64  `json:"ended"`
}

// Snapshot implements fsm.Subsystem: it copies the state (strings and key
// slices are immutable once stored, so sharing them is safe) and returns a
// writer that encodes the copy.
func (s *Machine) Snapshot() (func(io.Writer) error, error) {
	st := s.capture()
	return func(w io.Writer) error { return json.NewEncoder(w).Encode(st) }, nil
}

func (t *Table) capture() *snapState {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := &snapState{Version: snapVersion, Clock: t.clock, Floor: t.floor, LeaseSeq: t.leaseSeq, AttemptSeq: t.attemptSeq, OrderSeq: t.orderSeq}
	st.Fences = make([]snapFence, 0, len(t.keys))
	for k, ks := range t.keys {
		st.Fences = append(st.Fences, snapFence{k, ks.fence})
	}
	sort.Slice(st.Fences, func(i, j int) bool { return st.Fences[i].Key < st.Fences[j].Key })
	st.Leases = make([]snapLease, 0, len(t.leases))
	for _, l := range t.leases {
		st.Leases = append(st.Leases, snapLease{l.id, l.reqID, l.keys, int32(l.mode), l.fences, l.ttlMs, l.grantedAt, l.expiresAt})
	}
	sort.Slice(st.Leases, func(i, j int) bool { return st.Leases[i].ID < st.Leases[j].ID })
	st.Waiters = make([]snapWaiter, 0, len(t.waiters))
	for _, w := range t.waiters {
		st.Waiters = append(st.Waiters, snapWaiter{w.reqID, w.keys, int32(w.mode), w.ttlMs, w.deadline, w.order, w.attempt})
	}
	sort.Slice(st.Waiters, func(i, j int) bool { return st.Waiters[i].Order < st.Waiters[j].Order })
	st.Tombs = make([]snapTomb, len(t.tombQ))
	for i, tb := range t.tombQ {
		st.Tombs[i] = snapTomb{tb.id, tb.reqID, int32(tb.reason), tb.endedAt}
	}
	return st
}

// Restore implements fsm.Subsystem: it replaces the whole state (an empty
// reader means the empty state) and wakes every waiting handler.
func (s *Machine) Restore(r io.Reader) error {
	var st snapState
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("lock: snapshot: %w", err)
		}
		st = snapState{Version: snapVersion}
	}
	if st.Version != snapVersion {
		return fmt.Errorf("lock: snapshot version %d, want %d", st.Version, snapVersion)
	}
	if err := s.restore(&st); err != nil {
		return err
	}
	s.notify.FireAll()
	return nil
}

func (t *Table) restore(st *snapState) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reset()
	t.clock, t.floor, t.leaseSeq, t.attemptSeq, t.orderSeq = st.Clock, st.Floor, st.LeaseSeq, st.AttemptSeq, st.OrderSeq
	for _, f := range st.Fences {
		t.keys[f.Key] = &keyState{fence: f.Fence}
	}
	for _, sl := range st.Leases {
		if len(sl.Keys) == 0 || len(sl.Fences) != len(sl.Keys) {
			return fmt.Errorf("lock: snapshot lease %d is malformed", sl.ID)
		}
		l := &lease{id: sl.ID, reqID: sl.ReqID, keys: sl.Keys, mode: lockpb.LockMode(sl.Mode), fences: sl.Fences, ttlMs: sl.TTLMs, grantedAt: sl.GrantedAt, expiresAt: sl.ExpiresAt}
		for _, k := range l.keys {
			t.key(k).holders = append(t.key(k).holders, l)
		}
		t.leases[l.id] = l
		t.byReq[l.reqID] = l
		heap.Push(&t.expiries, l)
	}
	for _, sw := range st.Waiters {
		if len(sw.Keys) == 0 {
			return fmt.Errorf("lock: snapshot waiter %q is malformed", sw.ReqID)
		}
		t.enqueue(&waiter{reqID: sw.ReqID, keys: sw.Keys, mode: lockpb.LockMode(sw.Mode), ttlMs: sw.TTLMs, deadline: sw.Deadline, order: sw.Order, attempt: sw.Attempt})
	}
	for _, s := range st.Tombs {
		tb := &tomb{id: s.ID, reqID: s.ReqID, reason: lockpb.LockEventType(s.Reason), endedAt: s.EndedAt}
		t.tombs[tb.id] = tb
		t.tombReq[tb.reqID] = tb
		t.tombQ = append(t.tombQ, tb)
	}
	return nil
}

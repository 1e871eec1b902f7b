package lock

import (
	"encoding/json"
	"sort"
	"testing"
)

// snapshotV2 is the table as a version 2 snapshot held it (one JSON value
// with every list inside), written as the version 2 writer did, so the
// tests can check that such a snapshot still restores.
func snapshotV2(tb testing.TB, t *Table) []byte {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	st := &snapState{Version: 2, Clock: t.clock, Floor: t.floor, LeaseSeq: t.leaseSeq, AttemptSeq: t.attemptSeq, OrderSeq: t.orderSeq, LeaderExpiry: t.leaderExpiry}
	st.Fences = make([]snapFence, 0, len(t.keys))
	for k, ks := range t.keys {
		st.Fences = append(st.Fences, snapFence{k, ks.fence, ks.holderRev})
	}
	sort.Slice(st.Fences, func(i, j int) bool { return st.Fences[i].Key < st.Fences[j].Key })
	st.Leases = make([]snapLease, 0, len(t.leases))
	for _, l := range t.leases {
		st.Leases = append(st.Leases, snapLease{l.id, l.reqID, l.keys, int32(l.mode), l.fences, l.ttlMs, l.grantedAt, l.expiresAt, bytesOf(l.value)})
	}
	sort.Slice(st.Leases, func(i, j int) bool { return st.Leases[i].ID < st.Leases[j].ID })
	st.Waiters = make([]snapWaiter, 0, len(t.waiters))
	for _, w := range t.waiters {
		st.Waiters = append(st.Waiters, snapWaiter{w.reqID, w.keys, int32(w.mode), w.ttlMs, w.deadline, w.order, w.attempt, bytesOf(w.value)})
	}
	sort.Slice(st.Waiters, func(i, j int) bool { return st.Waiters[i].Order < st.Waiters[j].Order })
	st.Tombs = make([]snapTomb, len(t.tombQ))
	for i, tb := range t.tombQ {
		st.Tombs[i] = snapTomb{tb.id, tb.reqID, int32(tb.reason), tb.endedAt}
	}
	t.captureHistory(st)
	b, err := json.Marshal(st)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// captureHistory adds the history to a snapshot, in LRU order so that a
// restored node drops records in the same order as every other. t.mu is
// held.
func (t *Table) captureHistory(st *snapState) {
	h := t.hist
	if h == nil {
		return
	}
	st.HolderRev, st.HolderFloor = h.rev, h.floor
	st.Holders = make([]snapHistory, 0, h.lru.Len())
	for e := h.lru.Front(); e != nil; e = e.Next() {
		kh := e.Value.(*keyHistory)
		sh := snapHistory{Key: kh.key, Trimmed: kh.trimmed, Changes: make([]snapChange, len(kh.changes))}
		for i, c := range kh.changes {
			sh.Changes[i] = snapChange{c.rev, int32(c.typ), c.leaseID, int32(c.mode), c.fence, bytesOf(c.value), c.atMs}
		}
		st.Holders = append(st.Holders, sh)
	}
}

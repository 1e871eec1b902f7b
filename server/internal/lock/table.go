package lock

import (
	"container/heap"
	"strconv"
	"strings"
	"sync"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Messages of an acquisition refused with result.CodeExpired: what happened, in
// the request's terms, for the error a user reads.
const (
	// MsgContended answers a try (max_wait_ms 0) on a lock that someone
	// else holds, or that an earlier waiter is queued for.
	MsgContended = "the lock is held by another owner (or an earlier waiter is queued for it); max_wait_ms is 0, so this try does not wait"
	// MsgWaitedOut answers a wait that ended at max_wait_ms.
	MsgWaitedOut = "the lock stayed held by another owner for all of max_wait_ms"
)

// TombstoneRetentionMs is how long a Table remembers how a lease ended
// (released, expired, revoked). Within it a retried Release of a released
// lease answers success and a late Renew or rebind gets the precise code;
// after it both get "lease_expired". The bound keeps memory proportional to
// the recent release rate instead of to every lease ever made.
const TombstoneRetentionMs = 30_000

// Table is the lock state: keys with their holders, fence counters and FIFO
// waiter queues, leases, and tombstones of recently ended leases.
//
// Every mutating method takes the time (atMs) from its caller and is
// deterministic: the quorum Table is driven by the raft FSM with the
// leader's command time, the local Table by the API layer with its clock.
// The mutex guards against the API layer's concurrent reads.
type Table struct {
	mu sync.Mutex
	// prefix starts every lease id of this table; it tells a local lease
	// from a quorum one.
	prefix string
	clock  int64 // latest atMs seen; time never goes back inside the table

	keys    map[string]*keyState
	leases  map[uint64]*lease
	byReq   map[string]*lease
	waiters map[string]*waiter
	// floor is at least the last fence token of every forgotten key: a key
	// nobody holds or waits for is dropped to bound memory, and restarts
	// its counter from floor, so its tokens still strictly increase.
	floor      uint64
	leaseSeq   uint64 // last lease number
	attemptSeq uint64 // last waiter attempt number
	orderSeq   uint64 // last waiter enqueue number: the global FIFO order

	expiries leaseHeap
	waits    waiterHeap
	tombs    map[uint64]*tomb
	tombReq  map[string]*tomb
	tombQ    []*tomb // by end time (which never decreases)

	notify notify.Notifier[string] // keyed by request id
	hist   *history                // holder changes, for Observe; nil for LOCAL scope

	// leaderExpiry is set (replicated) once a leader has switched the table
	// to leases that end only by the leader's expiry command, which lets it
	// renew them in its memory (checkpoint.go). Before, leases expire
	// lazily at their replicated expiry, as older logs were written.
	leaderExpiry bool
	// dirty holds, on the leader, the leases renewed in memory since their
	// last checkpoint.
	dirty map[uint64]*lease
	// cuts are the snapshots whose writers still read the records (cut.go).
	cuts []*cut
}

type keyState struct {
	fence   uint64   // last fence token granted (or the floor it started from)
	holders []*lease // one exclusive, or shared ones in grant order
	queue   []*waiter
	// holderRev is the holder revision of the key's latest change (0:
	// unknown, before the history began or the key was forgotten).
	holderRev uint64
}

type lease struct {
	id        uint64
	reqID     string
	keys      []string
	mode      lockpb.LockMode
	fences    []uint64
	ttlMs     int64
	grantedAt int64
	expiresAt int64 // the replicated expiry
	heapIdx   int
	value     string      // carried by the acquisition (an election candidate's)
	lead      leaderLease // the leader's memory of it (checkpoint.go)
}

type waiter struct {
	reqID    string
	keys     []string
	mode     lockpb.LockMode
	ttlMs    int64
	deadline int64
	order    uint64
	attempt  uint64
	heapIdx  int
	value    string
}

type tomb struct {
	id      uint64
	reqID   string
	reason  lockpb.LockEventType
	endedAt int64
}

// NewTable returns an empty table whose lease ids start with prefix and
// whose fence tokens start above floor.
func NewTable(prefix string, floor uint64) *Table {
	t := &Table{prefix: prefix}
	t.reset()
	t.floor = floor
	return t
}

func (t *Table) reset() {
	t.clock, t.floor, t.leaseSeq, t.attemptSeq, t.orderSeq = 0, 0, 0, 0, 0
	t.keys = map[string]*keyState{}
	t.leases = map[uint64]*lease{}
	t.byReq = map[string]*lease{}
	t.waiters = map[string]*waiter{}
	t.expiries = nil
	t.waits = nil
	t.tombs = map[uint64]*tomb{}
	t.tombReq = map[string]*tomb{}
	t.tombQ = nil
	t.leaderExpiry = false
	t.dirty = map[uint64]*lease{}
}

// Watch subscribes to changes of what request id reqID owns or waits for.
func (t *Table) Watch(reqID string) *notify.Waiter[string] { return t.notify.Watch(reqID) }

// AcquireRequest is one acquisition, single-key or multi-key.
type AcquireRequest struct {
	RequestID   string
	Keys        []string
	Mode        lockpb.LockMode
	MaxWaitMs   int64
	TTLMs       int64
	RecoverOnly bool
	// Value is carried by the grant and reported with its holders; a
	// re-issue keeps the first one.
	Value string
}

// Outcome is the answer of a mutating operation.
type Outcome struct {
	// Code is "" on success, else a result code; Message explains it.
	Code, Message string
	// Lease is the lease granted, recovered or renewed.
	Lease *lockpb.LockLease
	// Waiting is true when the acquisition was queued; Attempt names this
	// queuing, for Cancel and Status.
	Waiting bool
	Attempt uint64
}

func fail(code, msg string) *Outcome { return &Outcome{Code: code, Message: msg} }

func (t *Table) now(atMs int64) int64 {
	if atMs > t.clock {
		t.clock = atMs
	}
	return t.clock
}

// Acquire grants, recovers, queues or refuses an acquisition.
func (t *Table) Acquire(r AcquireRequest, atMs int64) *Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rule := msec.Check(r.MaxWaitMs); rule != "" {
		return fail(result.CodeInvalidArgument, "max_wait_ms: "+rule)
	}
	if rule := msec.Check(r.TTLMs); rule != "" {
		return fail(result.CodeInvalidArgument, "lease_ttl_ms: "+rule)
	}
	now := t.now(atMs)
	t.expireDue(now)
	if l := t.byReq[r.RequestID]; l != nil {
		if !sameRequest(l.keys, l.mode, r) {
			return fail(result.CodeConflict, "request_id already holds a lease on other keys or in another mode")
		}
		return &Outcome{Lease: t.leasePB(l, true)}
	}
	if r.RecoverOnly {
		return t.endedOutcome(t.tombReq[r.RequestID], r.RequestID)
	}
	if tb := t.tombReq[r.RequestID]; tb != nil {
		// A retry of an acquisition whose lease already ended must not
		// become a second grant under the same identity.
		return t.endedOutcome(tb, r.RequestID)
	}
	if w := t.waiters[r.RequestID]; w != nil {
		if !sameRequest(w.keys, w.mode, r) {
			return fail(result.CodeConflict, "request_id is already waiting for other keys or in another mode")
		}
		if r.MaxWaitMs == 0 {
			t.removeWaiter(w, now)
			return fail(result.CodeExpired, MsgContended)
		}
		// A re-issue takes over the waiter's place in the queue; the earlier
		// call's Cancel (with the old attempt) no longer applies.
		t.beforeWaiter(w)
		t.attemptSeq++
		w.attempt = t.attemptSeq
		w.deadline = msec.Add(now, r.MaxWaitMs)
		w.ttlMs = r.TTLMs
		heap.Fix(&t.waits, w.heapIdx)
		t.notify.Fire(w.reqID)
		return &Outcome{Waiting: true, Attempt: w.attempt}
	}
	if t.grantable(r.Keys, r.Mode, nil) {
		l := t.grant(r.RequestID, r.Keys, r.Mode, r.TTLMs, r.Value, now)
		return &Outcome{Lease: t.leasePB(l, false)}
	}
	if r.MaxWaitMs == 0 {
		return fail(result.CodeExpired, MsgContended)
	}
	t.attemptSeq++
	t.orderSeq++
	w := &waiter{reqID: r.RequestID, keys: r.Keys, mode: r.Mode, ttlMs: r.TTLMs, deadline: msec.Add(now, r.MaxWaitMs), order: t.orderSeq, attempt: t.attemptSeq, value: r.Value}
	t.enqueue(w)
	return &Outcome{Waiting: true, Attempt: w.attempt}
}

func sameRequest(keys []string, mode lockpb.LockMode, r AcquireRequest) bool {
	if mode != r.Mode || len(keys) != len(r.Keys) {
		return false
	}
	for i := range keys {
		if keys[i] != r.Keys[i] {
			return false
		}
	}
	return true
}

// endedOutcome answers for a request id whose lease is gone.
func (t *Table) endedOutcome(tb *tomb, reqID string) *Outcome {
	if tb != nil && tb.reqID == reqID && tb.reason != lockpb.LockEventType_LOCK_EVENT_TYPE_EXPIRED {
		return fail(result.CodeNotOwner, "the lease was "+reasonWord(tb.reason))
	}
	return fail(result.CodeLeaseExpired, "the lease has expired or never existed")
}

func reasonWord(r lockpb.LockEventType) string {
	switch r {
	case lockpb.LockEventType_LOCK_EVENT_TYPE_RELEASED:
		return "released"
	case lockpb.LockEventType_LOCK_EVENT_TYPE_REVOKED:
		return "revoked"
	}
	return "expired"
}

// Cancel drops the waiter of reqID if it is still the one queued by attempt
// (a later re-issue took it over otherwise). A grant that already happened
// stands: the lease lives on its TTL and a rebind can still recover it.
func (t *Table) Cancel(reqID string, attempt uint64, atMs int64) *Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now(atMs)
	t.expireDue(now)
	if w := t.waiters[reqID]; w != nil && w.attempt == attempt {
		t.removeWaiter(w, now)
	}
	return &Outcome{}
}

// Renew extends a live lease to now + ttlMs (0: its current TTL). An
// expired lease is never revived.
func (t *Table) Renew(leaseID, reqID string, ttlMs int64, atMs int64) *Outcome {
	if rule := msec.Check(ttlMs); rule != "" {
		return fail(result.CodeInvalidArgument, "lease_ttl_ms: "+rule)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now(atMs)
	t.expireDue(now)
	l, tb := t.lookup(leaseID)
	if l == nil {
		if tb != nil && tb.reqID != reqID {
			return fail(result.CodeNotOwner, "the lease belongs to another request_id")
		}
		return t.endedOutcome(tb, reqID)
	}
	if l.reqID != reqID {
		return fail(result.CodeNotOwner, "the lease belongs to another request_id")
	}
	t.beforeLease(l)
	if ttlMs > 0 {
		l.ttlMs = ttlMs
	}
	l.expiresAt = msec.Add(now, l.ttlMs)
	heap.Fix(&t.expiries, l.heapIdx)
	t.notify.Fire(l.reqID)
	return &Outcome{Lease: t.leasePB(l, false)}
}

// Release ends a live lease and frees its keys. A retry after success
// answers success; a lease that expired answers lease_expired.
func (t *Table) Release(leaseID, reqID string, atMs int64) *Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now(atMs)
	t.expireDue(now)
	l, tb := t.lookup(leaseID)
	if l == nil {
		switch {
		case tb != nil && tb.reqID != reqID:
			return fail(result.CodeNotOwner, "the lease belongs to another request_id")
		case tb != nil && tb.reason == lockpb.LockEventType_LOCK_EVENT_TYPE_RELEASED:
			return &Outcome{}
		}
		return t.endedOutcome(tb, reqID)
	}
	if l.reqID != reqID {
		return fail(result.CodeNotOwner, "the lease belongs to another request_id")
	}
	t.end(l, lockpb.LockEventType_LOCK_EVENT_TYPE_RELEASED, now)
	return &Outcome{}
}

// RevokeAll ends every lease and drops every waiter (a local table whose
// node is stopping).
func (t *Table) RevokeAll(atMs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now(atMs)
	for len(t.waits) > 0 {
		t.removeWaiter(t.waits[0], now)
	}
	for len(t.expiries) > 0 {
		t.end(t.expiries[0], lockpb.LockEventType_LOCK_EVENT_TYPE_REVOKED, now)
	}
}

// Tick expires leases and waiters due at atMs and forgets old tombstones.
func (t *Table) Tick(atMs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireDue(t.now(atMs))
}

// NextDeadline is the earliest time Tick has something to do, or 0.
func (t *Table) NextDeadline() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var next int64
	consider := func(d int64) {
		if next == 0 || d < next {
			next = d
		}
	}
	if len(t.expiries) > 0 && !t.leaderExpiry {
		consider(t.expiries[0].expiresAt)
	}
	if len(t.waits) > 0 {
		consider(t.waits[0].deadline)
	}
	if len(t.tombQ) > 0 {
		consider(t.tombQ[0].endedAt + TombstoneRetentionMs)
	}
	return next
}

func (t *Table) expireDue(now int64) {
	// Leases and waits end in the order of their deadlines, so a waiter
	// whose wait outlasted a holder's lease gets the key, exactly as if
	// every deadline had been ticked on time. Once the leader decides
	// expiry (leaderExpiry), a lease ends only by its expiry command.
	for {
		var l *lease
		var w *waiter
		if len(t.expiries) > 0 && !t.leaderExpiry && t.expiries[0].expiresAt <= now {
			l = t.expiries[0]
		}
		if len(t.waits) > 0 && t.waits[0].deadline <= now {
			w = t.waits[0]
		}
		switch {
		case l != nil && (w == nil || l.expiresAt <= w.deadline):
			t.end(l, lockpb.LockEventType_LOCK_EVENT_TYPE_EXPIRED, now)
			continue
		case w != nil:
			t.removeWaiter(w, now)
			continue
		}
		break
	}
	n := 0
	for n < len(t.tombQ) && t.tombQ[n].endedAt+TombstoneRetentionMs <= now {
		tb := t.tombQ[n]
		delete(t.tombs, tb.id)
		if t.tombReq[tb.reqID] == tb {
			delete(t.tombReq, tb.reqID)
		}
		t.tombQ[n] = nil
		n++
	}
	if n > 0 {
		t.tombQ = t.tombQ[n:]
	}
}

// lookup finds a live lease, or the tombstone of an ended one, by id.
func (t *Table) lookup(leaseID string) (*lease, *tomb) {
	id, ok := t.parseID(leaseID)
	if !ok {
		return nil, nil
	}
	if l := t.leases[id]; l != nil {
		return l, nil
	}
	return nil, t.tombs[id]
}

func (t *Table) parseID(leaseID string) (uint64, bool) {
	s, ok := strings.CutPrefix(leaseID, t.prefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil
}

// LeaseID formats the id of lease number n.
func (t *Table) LeaseID(n uint64) string { return t.prefix + strconv.FormatUint(n, 10) }

// compatible reports whether mode can join holders.
func compatible(holders []*lease, mode lockpb.LockMode) bool {
	if len(holders) == 0 {
		return true
	}
	return mode == lockpb.LockMode_LOCK_MODE_SHARED && holders[0].mode == lockpb.LockMode_LOCK_MODE_SHARED
}

// grantable reports whether keys can be granted in mode now, to the waiter
// w (nil: a new arrival, behind every waiter). FIFO: nothing may pass a
// waiting exclusive acquisition, and an exclusive one passes no waiter.
func (t *Table) grantable(keys []string, mode lockpb.LockMode, w *waiter) bool {
	for _, k := range keys {
		ks := t.keys[k]
		if ks == nil {
			continue
		}
		if !compatible(ks.holders, mode) {
			return false
		}
		for _, ahead := range ks.queue {
			if ahead == w {
				break
			}
			if mode != lockpb.LockMode_LOCK_MODE_SHARED || ahead.mode != lockpb.LockMode_LOCK_MODE_SHARED {
				return false
			}
		}
	}
	return true
}

func (t *Table) key(k string) *keyState {
	ks := t.keys[k]
	if ks == nil {
		ks = &keyState{fence: t.floor}
		t.keys[k] = ks
	}
	return ks
}

// forget drops an idle key, keeping its fence counter in the floor.
func (t *Table) forget(k string) {
	ks := t.keys[k]
	if ks == nil || len(ks.holders) > 0 || len(ks.queue) > 0 {
		return
	}
	t.floor = max(t.floor, ks.fence)
	delete(t.keys, k)
}

func (t *Table) grant(reqID string, keys []string, mode lockpb.LockMode, ttlMs int64, value string, now int64) *lease {
	t.leaseSeq++
	l := &lease{id: t.leaseSeq, reqID: reqID, keys: keys, mode: mode, fences: make([]uint64, len(keys)), ttlMs: ttlMs, grantedAt: now, expiresAt: msec.Add(now, ttlMs), value: value}
	for i, k := range keys {
		ks := t.key(k)
		t.beforeKey(ks)
		ks.fence++ // the fence invariant: strictly increasing per key, never reset
		l.fences[i] = ks.fence
		ks.holders = append(ks.holders, l)
	}
	t.leases[l.id] = l
	t.byReq[reqID] = l
	heap.Push(&t.expiries, l)
	t.recordGrant(l, now)
	t.notify.Fire(reqID)
	return l
}

// end removes a live lease for reason, remembers how it ended, and hands
// its keys to the waiters now first in line.
func (t *Table) end(l *lease, reason lockpb.LockEventType, now int64) {
	t.recordEnd(l, reason, now)
	heap.Remove(&t.expiries, l.heapIdx)
	delete(t.dirty, l.id)
	delete(t.leases, l.id)
	delete(t.byReq, l.reqID)
	for _, k := range l.keys {
		ks := t.keys[k]
		for i, h := range ks.holders {
			if h == l {
				ks.holders = append(ks.holders[:i], ks.holders[i+1:]...)
				break
			}
		}
		t.forget(k)
	}
	tb := &tomb{id: l.id, reqID: l.reqID, reason: reason, endedAt: now}
	t.tombs[tb.id] = tb
	t.tombReq[tb.reqID] = tb
	t.tombQ = append(t.tombQ, tb)
	t.notify.Fire(l.reqID)
	t.pump(l.keys, now)
}

func (t *Table) enqueue(w *waiter) {
	t.waiters[w.reqID] = w
	for _, k := range w.keys {
		ks := t.key(k)
		ks.queue = append(ks.queue, w)
	}
	heap.Push(&t.waits, w)
}

func (t *Table) unqueue(w *waiter) {
	delete(t.waiters, w.reqID)
	heap.Remove(&t.waits, w.heapIdx)
	for _, k := range w.keys {
		ks := t.keys[k]
		for i, q := range ks.queue {
			if q == w {
				ks.queue = append(ks.queue[:i], ks.queue[i+1:]...)
				break
			}
		}
		t.forget(k)
	}
}

// removeWaiter drops a waiter (expired wait, cancel) and lets the waiters it
// was blocking move.
func (t *Table) removeWaiter(w *waiter, now int64) {
	t.unqueue(w)
	t.notify.Fire(w.reqID)
	t.pump(w.keys, now)
}

// pump grants every waiter that has become grantable on keys, in FIFO
// order, following the keys of each grant to the waiters it unblocks.
// Waiters over several keys are granted all at once or not at all, and the
// queues share one global order, so the oldest waiter is never blocked by a
// younger one: no deadlock.
func (t *Table) pump(keys []string, now int64) {
	work := append([]string(nil), keys...)
	for len(work) > 0 {
		k := work[0]
		work = work[1:]
		ks := t.keys[k]
		if ks == nil {
			continue
		}
		for i := 0; i < len(ks.queue); {
			w := ks.queue[i]
			if t.grantable(w.keys, w.mode, w) {
				t.unqueue(w)
				t.grant(w.reqID, w.keys, w.mode, w.ttlMs, w.value, now)
				for _, wk := range w.keys {
					if wk != k {
						work = append(work, wk)
					}
				}
				if ks = t.keys[k]; ks == nil {
					break
				}
				continue // w left the queue: i now names its successor
			}
			if w.mode != lockpb.LockMode_LOCK_MODE_SHARED {
				break // nothing passes a waiting writer
			}
			i++
		}
	}
}

func (t *Table) leasePB(l *lease, recovered bool) *lockpb.LockLease {
	p := &lockpb.LockLease{
		LeaseId:          t.LeaseID(l.id),
		RequestId:        l.reqID,
		Grants:           make([]*lockpb.LockGrant, len(l.keys)),
		LeaseExpiresAtMs: l.expiresAt,
		LeaseTtlMs:       l.ttlMs,
		GrantedAtMs:      l.grantedAt,
		Recovered:        recovered,
		Value:            []byte(l.value),
	}
	for i, k := range l.keys {
		p.Grants[i] = &lockpb.LockGrant{Key: k, Mode: l.mode, FenceToken: l.fences[i]}
	}
	return p
}

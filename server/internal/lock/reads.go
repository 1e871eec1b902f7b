package lock

import (
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Status is what a request id has now, for a waiting call.
type Status struct {
	// Lease is set when the request id holds a live lease.
	Lease *lockpb.LockLease
	// Waiting is true while the attempt is still queued.
	Waiting bool
	// TakenOver is true when a later call with the same request id took
	// the waiter over.
	TakenOver bool
}

// Status reports what the acquisition attempt of reqID has become.
func (t *Table) Status(reqID string, attempt uint64) Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l := t.byReq[reqID]; l != nil {
		return Status{Lease: t.leasePB(l, false)}
	}
	if w := t.waiters[reqID]; w != nil {
		if w.attempt == attempt {
			return Status{Waiting: true}
		}
		return Status{TakenOver: true}
	}
	return Status{}
}

// Contended reports whether a one-try acquisition (MaxWait 0) would be
// refused with "expired" if applied at nowMs, so that the API layer can
// answer it without a log write. It answers false whenever applying could
// do anything else: the request id is known (a retry, a take-over), or some
// lease or wait is due (applying would expire it first).
func (t *Table) Contended(r AcquireRequest, nowMs int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.MaxWaitMs != 0 || r.RecoverOnly || t.byReq[r.RequestID] != nil || t.waiters[r.RequestID] != nil || t.tombReq[r.RequestID] != nil {
		return false
	}
	if (len(t.expiries) > 0 && t.expiries[0].effective() <= nowMs) || (len(t.waits) > 0 && t.waits[0].deadline <= nowMs) {
		return false
	}
	return !t.grantable(r.Keys, r.Mode, nil)
}

// Recover answers the live lease of reqID without changing anything, as an
// acquisition with recover_only does. A lease whose expiry has passed at
// nowMs is gone, even if no tick has removed it yet.
func (t *Table) Recover(r AcquireRequest, nowMs int64) *Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.byReq[r.RequestID]
	if l == nil {
		return t.endedOutcome(t.tombReq[r.RequestID], r.RequestID)
	}
	if !sameRequest(l.keys, l.mode, r) {
		return fail(result.CodeConflict, "request_id holds a lease on other keys or in another mode")
	}
	if l.effective() <= nowMs {
		return fail(result.CodeLeaseExpired, "the lease has expired")
	}
	return &Outcome{Lease: t.livePB(l, true)}
}

// LeaseState is a lease as an event stream follows it.
type LeaseState struct {
	// Lease is the live lease, or nil once it ended.
	Lease *lockpb.LockLease
	// Ended says how it ended (RELEASED, EXPIRED, REVOKED) once it did.
	Ended lockpb.LockEventType
}

// LeaseState reports the lease leaseID owned by reqID; ok is false when it
// is unknown or not owned by reqID.
func (t *Table) LeaseState(leaseID, reqID string) (LeaseState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, tb := t.lookup(leaseID)
	switch {
	case l != nil && l.reqID == reqID:
		return LeaseState{Lease: t.livePB(l, false)}, true
	case tb != nil && tb.reqID == reqID:
		return LeaseState{Ended: tb.reason}, true
	}
	return LeaseState{}, false
}

// ExpiresAt returns the expiry of the live lease leaseID, or 0.
func (t *Table) ExpiresAt(leaseID string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, _ := t.lookup(leaseID); l != nil {
		return l.effective()
	}
	return 0
}

// Inspect describes key: its holders (without request ids), the number of
// waiters, and the last fence token (the floor for a forgotten key).
func (t *Table) Inspect(key string) *lockpb.LockServiceInspectResponse {
	t.mu.Lock()
	defer t.mu.Unlock()
	resp := &lockpb.LockServiceInspectResponse{HolderRevision: t.lastChangeLocked(key)}
	ks := t.keys[key]
	if ks == nil {
		resp.LastFenceToken = t.floor
		return resp
	}
	resp.LastFenceToken = ks.fence
	resp.Waiters = int64(len(ks.queue))
	if len(ks.holders) > 0 {
		resp.Holders = t.holdersPB(ks, key)
	}
	return resp
}

// Counts reports how many leases, waiters, keys and tombstones the table
// holds (for tests and metrics).
func (t *Table) Counts() (leases, waiters, keys, tombs int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.leases), len(t.waiters), len(t.keys), len(t.tombs)
}

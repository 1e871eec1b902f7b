package lock

import (
	"sync"
	"sync/atomic"
)

// cut is a snapshot's consistent cut while its writer runs. The writer
// reads the records as pointers taken at the cut; apply changes only a few
// fields of a record in place, and before the first such change of a record
// the cut shares (while the writer is not done) it saves the fields' values
// here. So the writer reads every record as it was at the cut, and the cut
// itself costs a copy of pointers, not of the table.
type cut struct {
	done atomic.Bool
	// leaseSeq and orderSeq are the table's at the cut: a lease or a
	// waiter numbered past them is newer than the cut and never read.
	leaseSeq, orderSeq uint64

	mu      sync.Mutex // guards the maps: apply writes them, the writer reads
	leases  map[*lease]leaseVals
	waiters map[*waiter]waiterVals
	keys    map[*keyState]keyVals
}

type leaseVals struct{ ttlMs, expiresAt int64 }

type waiterVals struct {
	ttlMs, deadline int64
	attempt         uint64
}

type keyVals struct{ fence, holderRev uint64 }

// addCut starts saving before-images for c. t.mu is held.
func (t *Table) addCut(c *cut) {
	c.leases, c.waiters, c.keys = map[*lease]leaseVals{}, map[*waiter]waiterVals{}, map[*keyState]keyVals{}
	t.cuts = append(t.liveCuts(), c)
}

// liveCuts drops the cuts whose writers are done and returns the others.
// t.mu is held. With no snapshot being written it is one length check.
func (t *Table) liveCuts() []*cut {
	if len(t.cuts) == 0 {
		return nil
	}
	live := t.cuts[:0]
	for _, c := range t.cuts {
		if !c.done.Load() {
			live = append(live, c)
		}
	}
	clear(t.cuts[len(live):])
	t.cuts = live
	return live
}

// beforeLease, beforeWaiter and beforeKey are called by apply right before
// it changes the record's snapshotted fields in place. t.mu is held.
func (t *Table) beforeLease(l *lease) {
	for _, c := range t.liveCuts() {
		if l.id > c.leaseSeq {
			continue
		}
		c.mu.Lock()
		if _, ok := c.leases[l]; !ok {
			c.leases[l] = leaseVals{l.ttlMs, l.expiresAt}
		}
		c.mu.Unlock()
	}
}

func (t *Table) beforeWaiter(w *waiter) {
	for _, c := range t.liveCuts() {
		if w.order > c.orderSeq {
			continue
		}
		c.mu.Lock()
		if _, ok := c.waiters[w]; !ok {
			c.waiters[w] = waiterVals{w.ttlMs, w.deadline, w.attempt}
		}
		c.mu.Unlock()
	}
}

func (t *Table) beforeKey(ks *keyState) {
	for _, c := range t.liveCuts() {
		c.mu.Lock()
		if _, ok := c.keys[ks]; !ok {
			c.keys[ks] = keyVals{ks.fence, ks.holderRev}
		}
		c.mu.Unlock()
	}
}

// leaseVals and friends answer a record's fields as they were at the cut.
// They read the live fields under c.mu: apply saves them under c.mu before
// it changes them, so a record not saved yet is unchanged.
func (c *cut) leaseVals(l *lease) leaseVals {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.leases[l]; ok {
		return v
	}
	return leaseVals{l.ttlMs, l.expiresAt}
}

func (c *cut) waiterVals(w *waiter) waiterVals {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.waiters[w]; ok {
		return v
	}
	return waiterVals{w.ttlMs, w.deadline, w.attempt}
}

func (c *cut) keyVals(ks *keyState) keyVals {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.keys[ks]; ok {
		return v
	}
	return keyVals{ks.fence, ks.holderRev}
}

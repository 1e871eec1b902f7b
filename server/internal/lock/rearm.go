package lock

import (
	"container/heap"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
)

// Rearm gives every live lease a full TTL from atMs when that is later
// than its expiry. A new leader applies it (fsm.RearmCommand) before it
// expires anything: its clock may run ahead of the old leader's, and no
// holder could renew while there was no leader, so without it a lease
// could end earlier than any leader promised. Waiters keep their deadlines:
// a shorter wait only answers "expired" sooner, which the caller retries.
func (t *Table) Rearm(atMs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now(atMs)
	for _, l := range t.expiries {
		if e := msec.Add(now, l.ttlMs); e > l.expiresAt {
			t.beforeLease(l)
			l.expiresAt = e
		}
	}
	t.clearLeaderMemory()
	heap.Init(&t.expiries)
}

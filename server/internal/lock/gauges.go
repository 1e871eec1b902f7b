package lock

import "git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"

// Gauges reports held keys, live leases and waiting acquisitions.
func (t *Table) Gauges() []fsm.Gauge {
	t.mu.Lock()
	defer t.mu.Unlock()
	held := 0
	for _, k := range t.keys {
		if len(k.holders) > 0 {
			held++
		}
	}
	return []fsm.Gauge{
		{Name: "lock_held_keys", Help: "Lock keys held by at least one lease.", Value: float64(held)},
		{Name: "lock_leases", Help: "Live lock leases.", Value: float64(len(t.leases))},
		{Name: "lock_waiters", Help: "Lock acquisitions waiting for a key.", Value: float64(len(t.waiters))},
	}
}

package collections

import (
	"container/heap"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
)

var _ fsm.Rearmer = (*Machine)(nil)

// Rearm gives every queue message in flight (popped, not acked) its
// queue's visibility timeout from atMs, when that is later than when it
// becomes visible. A new leader applies it (fsm.RearmCommand) before it
// expires anything: its clock may run ahead of the old leader's, and no
// consumer could ack or extend while there was no leader, so without it a
// popped message could become visible earlier than the old leader would
// have made it. A pop that asked for a longer visibility than the queue's
// keeps its own deadline, as the old leader stamped it (the per-pop
// timeout is not kept).
func (m *Machine) Rearm(atMs int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.stores {
		if s.q == nil {
			continue
		}
		vis := s.cfg.GetQueue().GetVisibilityTimeoutMs()
		if vis <= 0 {
			continue
		}
		d := msec.Add(atMs, vis)
		for _, msg := range s.q.inflight.items {
			if d > msg.at {
				s.q.touch(msg)
				msg.at = d
			}
		}
		heap.Init(&s.q.inflight)
	}
}

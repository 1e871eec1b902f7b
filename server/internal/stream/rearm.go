package stream

import (
	"container/heap"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
)

var _ fsm.Rearmer = (*Machine)(nil)

// Rearm gives every delivery in flight (delivered, neither acked nor
// queued for redelivery) a full ack wait for its delivery attempt from
// atMs, when that is later than its deadline. A new leader applies it
// (fsm.RearmCommand) before it expires anything: its clock may run ahead
// of the old leader's, and no consumer could ack or report progress while
// there was no leader, so without it a message in flight could be
// redelivered earlier than the old leader would have. A NAK-delayed
// message gets the same: never earlier, at worst an ack wait later.
func (m *Machine) Rearm(atMs int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.streams {
		for _, c := range s.consumers {
			c.rearm(atMs)
		}
	}
}

// rearm moves the consumer's deadlines and rebuilds its deadline heap from
// its pending deliveries (dropping the stale entries). The heap's order is
// total, (at, seq), so its layout reaches no state.
func (c *consumer) rearm(atMs int64) {
	c.deadlines = c.deadlines[:0]
	for seq, p := range c.pending {
		if p.waiting || p.n == 0 {
			continue
		}
		if d := msec.Add(atMs, c.wait(p.n)); d > p.deadline {
			p.deadline = d
		}
		c.deadlines = append(c.deadlines, deadline{at: p.deadline, seq: seq})
	}
	heap.Init(&c.deadlines)
}

package collections

import "git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"

// Gauges reports the hash, set and queue stores, their bytes, and the
// queues' messages by state.
func (m *Machine) Gauges() []fsm.Gauge {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var hashes, sets, queues, bytes, ready, inflight, delayed int64
	for _, s := range m.stores {
		bytes += s.bytes
		switch s.kind {
		case kindHash:
			hashes++
		case kindSet:
			sets++
		default:
			queues++
			ready += int64(s.q.ready.Len())
			inflight += int64(s.q.inflight.Len())
			delayed += int64(s.q.delayed.Len())
		}
	}
	return []fsm.Gauge{
		{Name: "collections_hash_stores", Help: "Hash stores.", Value: float64(hashes)},
		{Name: "collections_set_stores", Help: "Set stores.", Value: float64(sets)},
		{Name: "collections_queues", Help: "Queues.", Value: float64(queues)},
		{Name: "collections_bytes", Help: "Bytes held by all hash, set and queue stores.", Value: float64(bytes)},
		{Name: "queue_ready_messages", Help: "Queue messages ready to be popped.", Value: float64(ready)},
		{Name: "queue_inflight_messages", Help: "Queue messages popped and not yet acked.", Value: float64(inflight)},
		{Name: "queue_delayed_messages", Help: "Queue messages waiting for their delay.", Value: float64(delayed)},
	}
}

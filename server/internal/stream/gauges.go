package stream

import "git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"

// Gauges reports the streams, stored messages and bytes, consumers, and
// delivered messages waiting for an ack.
func (m *Machine) Gauges() []fsm.Gauge {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var msgs, bytes, consumers, ackPending int64
	for _, s := range m.streams {
		msgs += s.count
		bytes += s.bytes
		consumers += int64(len(s.consumers))
		for _, c := range s.consumers {
			ackPending += int64(len(c.pending))
		}
	}
	return []fsm.Gauge{
		{Name: "stream_streams", Help: "Streams.", Value: float64(len(m.streams))},
		{Name: "stream_messages", Help: "Messages stored in all streams.", Value: float64(msgs)},
		{Name: "stream_bytes", Help: "Bytes stored in all streams.", Value: float64(bytes)},
		{Name: "stream_consumers", Help: "Consumers of all streams, durable and ephemeral.", Value: float64(consumers)},
		{Name: "stream_ack_pending", Help: "Messages delivered to consumers and not yet acked.", Value: float64(ackPending)},
	}
}

package kv

import "git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"

// Gauges reports the buckets, live keys, stored entries and bytes.
func (m *Machine) Gauges() []fsm.Gauge {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var keys, entries, bytes int64
	for _, b := range m.buckets {
		keys += b.live
		entries += b.entries
		bytes += b.bytes
	}
	return []fsm.Gauge{
		{Name: "kv_buckets", Help: "KV buckets.", Value: float64(len(m.buckets))},
		{Name: "kv_keys", Help: "Live keys in all KV buckets.", Value: float64(keys)},
		{Name: "kv_entries", Help: "Stored KV entries, history and delete markers included.", Value: float64(entries)},
		{Name: "kv_bytes", Help: "Stored size of all KV buckets (keys and values, history included).", Value: float64(bytes)},
	}
}

package objstore

import "git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"

// Gauges reports the object stores, live objects and their bytes.
func (m *Machine) Gauges() []fsm.Gauge {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var live, bytes int64
	for _, s := range m.stores {
		live += s.live
		bytes += s.bytes
	}
	return []fsm.Gauge{
		{Name: "object_stores", Help: "Object stores.", Value: float64(len(m.stores))},
		{Name: "object_objects", Help: "Live objects in all object stores.", Value: float64(live)},
		{Name: "object_bytes", Help: "Bytes of live object data in all object stores.", Value: float64(bytes)},
	}
}

package fsm

// Gauge is one number a subsystem reports about its state for monitoring:
// a count or a size, never a value naming user data. Name is the metric's
// name without the "waymaker_" prefix (for example "kv_keys").
type Gauge struct {
	Name, Help string
	Value      float64
}

// GaugeReporter is implemented by a subsystem that reports gauges. Gauges
// takes the subsystem's lock once and must cost no more than a walk over
// its top-level objects (buckets, streams, stores), never over their
// contents.
type GaugeReporter interface {
	Gauges() []Gauge
}

// Gauges collects the gauges of every registered subsystem that reports
// some, in registration order. Safe to call concurrently with Apply once
// registration is over.
func (f *FSM) Gauges() []Gauge {
	var out []Gauge
	for _, s := range f.subs {
		if r, ok := s.(GaugeReporter); ok {
			out = append(out, r.Gauges()...)
		}
	}
	return out
}

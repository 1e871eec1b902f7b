package metrics

import (
	"strings"
	"sync"

	gometrics "github.com/hashicorp/go-metrics/compat"
	"github.com/prometheus/client_golang/prometheus"
)

// raft reports its timings through go-metrics, whose sink is process-wide.
// A process that serves metrics installs raftSink once; every server's
// registry then shows the same process-wide histograms (one server per
// process is the daemon's case).
var (
	sinkOnce sync.Once

	timingBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

	raftTimings = map[string]prometheus.Histogram{
		"raft.commitTime": prometheus.NewHistogram(prometheus.HistogramOpts{Name: "waymaker_raft_commit_seconds",
			Help: "Time from the leader's dispatch of a log entry to its commit.", Buckets: timingBuckets}),
		"raft.fsm.apply": prometheus.NewHistogram(prometheus.HistogramOpts{Name: "waymaker_raft_apply_seconds",
			Help: "Time to apply one committed entry to the state machines.", Buckets: timingBuckets}),
		"raft.snapshot.create": prometheus.NewHistogram(prometheus.HistogramOpts{Name: "waymaker_raft_snapshot_create_seconds",
			Help: "Time to capture the state machines for a snapshot.", Buckets: timingBuckets}),
		"raft.snapshot.persist": prometheus.NewHistogram(prometheus.HistogramOpts{Name: "waymaker_raft_snapshot_persist_seconds",
			Help: "Time to write a snapshot out.", Buckets: timingBuckets}),
		"raft.fsm.restore": prometheus.NewHistogram(prometheus.HistogramOpts{Name: "waymaker_raft_snapshot_restore_seconds",
			Help: "Time to restore the state machines from a snapshot.", Buckets: timingBuckets}),
	}
	raftStateChanges = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waymaker_raft_state_changes_total",
		Help: "Raft state changes of this process's nodes, by the state entered (leader, follower, candidate); state=leader counts leadership won."},
		[]string{"state"})
)

func registerRaftTimings(reg *prometheus.Registry) {
	sinkOnce.Do(func() {
		conf := gometrics.DefaultConfig("")
		conf.EnableHostname = false
		conf.EnableRuntimeMetrics = false // its own goroutine; the Go collector covers the runtime
		_, _ = gometrics.NewGlobal(conf, raftSink{})
	})
	for _, h := range raftTimings {
		reg.MustRegister(h)
	}
	reg.MustRegister(raftStateChanges)
	for _, s := range []string{"leader", "follower", "candidate"} {
		raftStateChanges.WithLabelValues(s) // present at 0 before the first change
	}
}

// raftSink takes the few go-metrics raft emits that waymaker exposes and
// drops the rest. Timers arrive in milliseconds (go-metrics' default
// granularity).
type raftSink struct{}

func (raftSink) SetGauge([]string, float32)                              {}
func (raftSink) SetGaugeWithLabels([]string, float32, []gometrics.Label) {}
func (raftSink) EmitKey([]string, float32)                               {}

func (raftSink) IncrCounter(key []string, v float32) {
	if len(key) == 3 && key[0] == "raft" && key[1] == "state" {
		switch key[2] {
		case "leader", "follower", "candidate":
			raftStateChanges.WithLabelValues(key[2]).Add(float64(v))
		}
	}
}

func (s raftSink) IncrCounterWithLabels(key []string, v float32, _ []gometrics.Label) {
	s.IncrCounter(key, v)
}

func (raftSink) AddSample(key []string, ms float32) {
	if h, ok := raftTimings[strings.Join(key, ".")]; ok {
		h.Observe(float64(ms) / 1000)
	}
}

func (s raftSink) AddSampleWithLabels(key []string, v float32, _ []gometrics.Label) {
	s.AddSample(key, v)
}

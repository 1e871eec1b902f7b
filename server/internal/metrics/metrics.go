// Package metrics exposes a server's Prometheus metrics: per-RPC counters
// and latency histograms (gRPC interceptors), raft's state, the subsystems'
// gauges, and the process and Go runtime collectors. docs/METRICS.md lists
// every name. No label carries a user-chosen value: service, method and
// code come from the registered services and the documented result codes.
package metrics

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/park"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
)

const namespace = "waymaker"

// Sources are what the collectors read at scrape time.
type Sources struct {
	// Raft returns the node's raft counters; ok false before it started.
	Raft func() (raftnode.Stats, bool)
	// Gauges returns the subsystems' gauges.
	Gauges func() []fsm.Gauge
}

// Metrics is one server's registry and instruments.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	active   *prometheus.GaugeVec
}

// New registers every collector in a registry of its own, so that servers
// in one process (tests) do not share counters. raft's timings come from
// its go-metrics calls, which are process-wide.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "rpc", Name: "requests_total",
			Help: "RPCs handled, by service, method and code (OK, a gRPC code name, or the waymaker result code of a refused request).",
		}, []string{"service", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "rpc", Name: "duration_seconds",
			Help:    "Time to handle an RPC, by service, method and code; a stream's whole life for streaming methods.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"service", "method", "code"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "rpc", Name: "active_streams",
			Help: "Server streams open now, by service and method.",
		}, []string{"service", "method"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.active,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		raftCollector{src.Raft},
		gaugeCollector{src.Gauges},
	)
	registerRaftTimings(m.reg)
	return m
}

// Registry is the registry the handler serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics and, with pprof, /debug/pprof/.
func (m *Metrics) Handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// ServerOptions are the interceptors that count and time every RPC.
func (m *Metrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(m.unary), grpc.ChainStreamInterceptor(m.stream)}
}

// splitMethod turns "/waymaker.v1.KVService/Put" into its service and method.
func splitMethod(full string) (string, string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

// resulter is every waymaker response: a refused request is success=false
// with a result code, not a gRPC error.
type resulter interface{ GetResult() *commonpb.Result }

// Code is the code label of a finished call: a gRPC code name, the
// response's result code when it refused the request, or "OK".
func Code(resp any, err error) string {
	if err != nil {
		return status.Code(err).String()
	}
	if r, ok := resp.(resulter); ok {
		if res := r.GetResult(); res != nil && !res.GetSuccess() && res.GetResultCode() != "" {
			return boundedCode(res.GetResultCode())
		}
	}
	return "OK"
}

// boundedCode keeps the label set bounded even if a handler ever put
// something unexpected in a result code.
func boundedCode(c string) string {
	if len(c) > 32 {
		return "other"
	}
	for _, r := range c {
		if (r < 'a' || r > 'z') && r != '_' {
			return "other"
		}
	}
	return c
}

func (m *Metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := next(ctx, req)
	svc, meth := splitMethod(info.FullMethod)
	code := Code(resp, err)
	m.requests.WithLabelValues(svc, meth, code).Inc()
	m.latency.WithLabelValues(svc, meth, code).Observe(time.Since(start).Seconds())
	return resp, err
}

// StreamInterceptor is the stream interceptor of ServerOptions.
func (m *Metrics) StreamInterceptor() grpc.StreamServerInterceptor { return m.stream }

func (m *Metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	start := time.Now()
	svc, meth := splitMethod(info.FullMethod)
	g := m.active.WithLabelValues(svc, meth)
	g.Inc()
	err := next(srv, ss)
	end := func(err error) {
		g.Dec()
		code := Code(nil, err)
		m.requests.WithLabelValues(svc, meth, code).Inc()
		m.latency.WithLabelValues(svc, meth, code).Observe(time.Since(start).Seconds())
	}
	if !park.AtEnd(ss, err, end) {
		end(err)
	}
	return err
}

// raftCollector reads raft's counters at scrape time.
type raftCollector struct {
	stats func() (raftnode.Stats, bool)
}

var (
	raftTerm      = prometheus.NewDesc("waymaker_raft_term", "Current raft term.", nil, nil)
	raftLastLog   = prometheus.NewDesc("waymaker_raft_last_log_index", "Index of the last raft log entry.", nil, nil)
	raftCommit    = prometheus.NewDesc("waymaker_raft_commit_index", "Index of the last committed raft log entry.", nil, nil)
	raftApplied   = prometheus.NewDesc("waymaker_raft_applied_index", "Index of the last entry applied to the state machines.", nil, nil)
	raftPending   = prometheus.NewDesc("waymaker_raft_fsm_pending", "Committed entries waiting to be applied.", nil, nil)
	raftSnapIndex = prometheus.NewDesc("waymaker_raft_last_snapshot_index", "Index of the latest snapshot.", nil, nil)
	raftSnapBytes = prometheus.NewDesc("waymaker_raft_last_snapshot_bytes", "Size of the latest snapshot kept.", nil, nil)
	raftVoters    = prometheus.NewDesc("waymaker_raft_voters", "Voters in the latest raft configuration.", nil, nil)
	raftIsLeader  = prometheus.NewDesc("waymaker_raft_is_leader", "1 while this node leads, else 0.", nil, nil)
	raftStateDesc = prometheus.NewDesc("waymaker_raft_state", "1 for this node's raft state (Leader, Follower, Candidate, Shutdown), 0 for the others.", []string{"state"}, nil)
	raftStates    = []string{"Leader", "Follower", "Candidate", "Shutdown"}
)

func (raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{raftTerm, raftLastLog, raftCommit, raftApplied, raftPending, raftSnapIndex, raftSnapBytes, raftVoters, raftIsLeader, raftStateDesc} {
		ch <- d
	}
}

func (c raftCollector) Collect(ch chan<- prometheus.Metric) {
	if c.stats == nil {
		return
	}
	s, ok := c.stats()
	if !ok {
		return
	}
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	g(raftTerm, float64(s.Term))
	g(raftLastLog, float64(s.LastLogIndex))
	g(raftCommit, float64(s.CommitIndex))
	g(raftApplied, float64(s.AppliedIndex))
	g(raftPending, float64(s.FSMPending))
	g(raftSnapIndex, float64(s.LastSnapshotIndex))
	g(raftSnapBytes, float64(s.LastSnapshotBytes))
	g(raftVoters, float64(s.Voters))
	leader := 0.0
	if s.State == "Leader" {
		leader = 1
	}
	g(raftIsLeader, leader)
	for _, st := range raftStates {
		v := 0.0
		if st == s.State {
			v = 1
		}
		g(raftStateDesc, v, st)
	}
}

// gaugeCollector reports the subsystems' gauges as waymaker_<name>.
type gaugeCollector struct {
	gauges func() []fsm.Gauge
}

// Describe sends nothing: the subsystems' gauges are known only at
// scrape time, which makes this an unchecked collector.
func (gaugeCollector) Describe(chan<- *prometheus.Desc) {}

func (c gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.gauges == nil {
		return
	}
	for _, g := range c.gauges() {
		d := prometheus.NewDesc(namespace+"_"+g.Name, g.Help, nil, nil)
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, g.Value)
	}
}

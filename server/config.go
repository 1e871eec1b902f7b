package server

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/api"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
)

// Limits bounds what one request may carry; every request is validated
// against them and refused with invalid_argument, naming the field, when it
// exceeds one. A zero field means its default (MaxKeyLen 1024, MaxValueSize
// 1 MiB, MaxNameLen 256, MaxSubjectLen 1024, MaxChunkSize 1 MiB,
// MaxMessageSize 16 MiB, MaxDurationMs 10 years, ...); see the field
// comments for what each bounds, and docs/LIMITS.md for every limit in one
// table. MaxMessageSize is gRPC's receive and send limit; a client sending
// more than the SDK's default 16 MiB needs transport.WithMaxMessageSize too.
type Limits = api.Limits

// DefaultLimits returns Limits with every field at its default.
func DefaultLimits() Limits { return api.DefaultLimits() }

// Config configures a Server. The zero Config is a working in-memory
// single-node server; zero fields mean the documented defaults.
type Config struct {
	// DataDir makes the server durable: the raft log (raft.db) and snapshots
	// (snapshots/) live there and a restart on the same DataDir recovers
	// every committed operation. Empty keeps everything in memory.
	DataDir string
	// NodeID names this node in raft. Default "node1". 1..64 characters of
	// [A-Za-z0-9._-]; keep it stable across restarts of one DataDir.
	NodeID string
	// Peers lists the other voters' addresses. Cluster mode is not
	// implemented yet, so New refuses a non-empty Peers.
	Peers []string
	// Logger receives the server's logs, raft's included. Default: discard.
	Logger *zap.Logger
	// Limits bounds request sizes. Zero fields take their defaults.
	Limits Limits
	// TickInterval is how often the leader checks for due expiries (leases,
	// TTLs, ack waits); it bounds how late one is applied. Default 50ms.
	TickInterval time.Duration
	// SnapshotThreshold is the number of log entries after which raft
	// snapshots the state and trims the log. Default 8192.
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks SnapshotThreshold. Default 2m;
	// at least 5ms.
	SnapshotInterval time.Duration
	// StartTimeout bounds how long Start (and New) waits for this node to
	// lead. It does not bound restoring the latest snapshot or replaying
	// the log after it: those take what the data needs, are logged as they
	// go, and the health service answers NOT_SERVING until they are done.
	// Default 10s.
	StartTimeout time.Duration
	// StopTimeout bounds how long Stop lets in-flight RPCs finish before
	// cutting them off. Default 5s.
	StopTimeout time.Duration
	// DisableCache turns caching off: every CacheService call answers gRPC
	// Unimplemented (as servers without caching do) and KV buckets are never
	// evicted. Policies attached before stay stored, inactive.
	DisableCache bool
	// RequestIDWindow is how long the server remembers the answer to a
	// request id, so that a retry of a mutation is answered with the first
	// answer instead of being applied again. Default 2m. Set it longer
	// than any client keeps retrying one call. Every node of a cluster must
	// use the same RequestIDWindow, RequestIDMaxEntries and
	// RequestIDMaxBytes: they shape replicated state.
	RequestIDWindow time.Duration
	// RequestIDMaxEntries bounds how many answers are remembered; the
	// oldest is forgotten first. Default 250,000.
	RequestIDMaxEntries int
	// RequestIDMaxBytes bounds the memory of remembered answers. Default
	// 64 MiB.
	RequestIDMaxBytes int
	// GRPCOptions are passed to grpc.NewServer: credentials, interceptors,
	// stats handlers, message size limits.
	GRPCOptions []grpc.ServerOption
	// MetricsListen, when set, serves Prometheus metrics on this host:port
	// at /metrics (docs/METRICS.md lists them). Empty serves none.
	MetricsListen string
	// Pprof serves net/http/pprof at /debug/pprof/ on the metrics listener
	// (never on the client port). Needs MetricsListen.
	Pprof bool

	// extraSubsystems are registered with the FSM after the built-in ones;
	// tests use it to replicate state machines of their own.
	extraSubsystems []fsm.Subsystem
	// replayProgressInterval overrides how often Start logs the replay's
	// progress (default 1s), so tests see it without waiting.
	replayProgressInterval time.Duration
}

const (
	// messageOverhead is the room Limits.MaxMessageSize must leave beside
	// the largest value or chunk for everything else in its request.
	messageOverhead    = 64 << 10
	defaultStopTimeout = 5 * time.Second
	maxNodeIDLen       = 64
)

// validate reports the first unusable field, by name, and returns cfg with
// defaults applied.
func (cfg Config) validate() (Config, error) {
	if len(cfg.Peers) > 0 {
		return cfg, errors.New("server: Config.Peers: cluster mode is not implemented yet; leave Peers empty to run a single node")
	}
	if cfg.NodeID == "" {
		cfg.NodeID = raftnode.DefaultNodeID
	}
	if !validNodeID(cfg.NodeID) {
		return cfg, fmt.Errorf("server: Config.NodeID %q: want 1..%d characters of [A-Za-z0-9._-]", cfg.NodeID, maxNodeIDLen)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if err := cfg.Limits.Validate(); err != nil {
		return cfg, fmt.Errorf("server: Config.Limits.%w", err)
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	// A value or chunk at its limit must fit in a message, with room for
	// the key, names and headers around it.
	for _, l := range []struct {
		name string
		v    int
	}{{"MaxValueSize", cfg.Limits.MaxValueSize}, {"MaxChunkSize", cfg.Limits.MaxChunkSize}} {
		if cfg.Limits.MaxMessageSize < l.v+messageOverhead {
			return cfg, fmt.Errorf("server: Config.Limits.MaxMessageSize: %d bytes cannot carry a %s of %d bytes; want at least %d", cfg.Limits.MaxMessageSize, l.name, l.v, l.v+messageOverhead)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"TickInterval", cfg.TickInterval},
		{"SnapshotInterval", cfg.SnapshotInterval},
		{"StartTimeout", cfg.StartTimeout},
		{"StopTimeout", cfg.StopTimeout},
		{"RequestIDWindow", cfg.RequestIDWindow},
	} {
		if d.v < 0 {
			return cfg, fmt.Errorf("server: Config.%s: must not be negative, got %v", d.name, d.v)
		}
	}
	if cfg.RequestIDMaxEntries < 0 || cfg.RequestIDMaxBytes < 0 {
		return cfg, fmt.Errorf("server: Config.RequestIDMaxEntries and RequestIDMaxBytes: must not be negative, got %d and %d", cfg.RequestIDMaxEntries, cfg.RequestIDMaxBytes)
	}
	if cfg.SnapshotInterval != 0 && cfg.SnapshotInterval < 5*time.Millisecond {
		return cfg, fmt.Errorf("server: Config.SnapshotInterval: must be at least 5ms, got %v", cfg.SnapshotInterval)
	}
	if cfg.Pprof && cfg.MetricsListen == "" {
		return cfg, errors.New("server: Config.Pprof: pprof is served only on the metrics listener; set MetricsListen too")
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = defaultStopTimeout
	}
	return cfg, nil
}

func validNodeID(id string) bool {
	if len(id) == 0 || len(id) > maxNodeIDLen {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

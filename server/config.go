package server

import (
	"cmp"
	"errors"
	"fmt"
	"net"
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

// Peer is one initial voter of a cluster: its node id and raft address.
type Peer = raftnode.Peer

// Faults injects network faults into one node: raft messages to or from
// chosen peers are dropped (Cut, either direction) or delayed (SetDelay),
// and calls are not forwarded across a cut, until Heal. Give it to the node
// as Config.Faults; waymakertest.Cluster's Partition and Heal drive one per
// node.
type Faults = raftnode.Faults

// NewFaults returns Faults that pass everything.
func NewFaults() *Faults { return raftnode.NewFaults() }

// ParsePeers parses a --bootstrap list, "id=host:port,id=host:port".
func ParsePeers(s string) ([]Peer, error) { return raftnode.ParsePeers(s) }

// DefaultLimits returns Limits with every field at its default.
func DefaultLimits() Limits { return api.DefaultLimits() }

// Config configures a Server. The zero Config is a working in-memory
// single-node server; zero fields mean the documented defaults.
type Config struct {
	// DataDir makes the server durable: the raft log (raft.db) and snapshots
	// (snapshots/) live there and a restart on the same DataDir recovers
	// every committed operation. Empty keeps everything in memory.
	DataDir string
	// UnsafeNoFsync skips the fsync after each raft log write: committed
	// writes survive a crash of the process but not of the machine (or a
	// power loss). For tests that kill servers in process; like etcd's
	// --unsafe-no-fsync. waymakertest.StartCluster sets it unless
	// WithFsync is given.
	UnsafeNoFsync bool
	// NodeID names this node in raft. Default "node1". 1..64 characters of
	// [A-Za-z0-9._-]; keep it stable across restarts of one DataDir.
	NodeID string
	// RaftListen makes this node a cluster member: the raft transport
	// listens there (host:port) for the other nodes. Empty (the default)
	// runs a single node that no other node can reach.
	RaftListen string
	// RaftAdvertise is the raft address the other nodes reach this one on,
	// when RaftListen is not reachable as is (a wildcard host, a NAT).
	RaftAdvertise string
	// Advertise is the client address other nodes and clients reach this
	// node on (host:port); it is replicated, so a not_leader hint names it.
	// Default: the address Serve listens on.
	Advertise string
	// Bootstrap lists the initial voters of a new cluster, this node among
	// them, as id and raft address. Give every initial voter the same
	// list; a node whose list disagrees with the cluster's is refused.
	// Ignored once the DataDir holds state. Empty with RaftListen set and
	// no Join: the node bootstraps a cluster of one, which others can join.
	Bootstrap []Peer
	// Join is the client address of a node of a running cluster: a fresh
	// node asks it to be added as a voter (AddVoter: it is staged, a
	// non-voter until the leader promotes it), then catches up from the
	// leader (by snapshot install when the log has been compacted); Start
	// returns once it has caught up, before the promotion.
	Join string
	// HeartbeatTimeout and ElectionTimeout are raft's (cluster mode).
	// Defaults 250ms each (LAN): a dead leader is replaced within about a
	// second. Every node should use the same values.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without hearing
	// from a quorum (raft's; at most HeartbeatTimeout). Default 200ms, or
	// HeartbeatTimeout when that is shorter.
	LeaderLeaseTimeout time.Duration
	// ForwardHold bounds how long a call waits for a leader to be known
	// (during an election) before it is answered Unavailable. Default:
	// twice ElectionTimeout.
	ForwardHold time.Duration
	// PromotionStabilization is how long a member staged by AddVoter (or
	// --join) must stay healthy, as the leader sees it, before the leader
	// promotes it from non-voter to voter: it answers the leader, is in the
	// leader's term, heard from the leader within two election timeouts,
	// and its applied index is within 256 entries of the leader's commit
	// index. Default 2s; waymakertest's clusters use 300ms.
	PromotionStabilization time.Duration
	// StaleReads makes reads answer from this node's local state by
	// default, without confirming that the state is current (like etcd's
	// serializable reads). A call can ask for either with the metadata key
	// ReadConsistencyKey; the SDK's transport.StaleRead does. Default:
	// linearizable reads.
	StaleReads bool
	// RaftListener, when set, is the listener the raft transport accepts
	// peers on instead of binding RaftListen; waymakertest uses it.
	RaftListener net.Listener
	// Faults (NewFaults) injects network faults into the raft transport and the
	// forwarding of calls; waymakertest.Cluster sets it.
	Faults *Faults
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
	// TrailingLogs is how many log entries a snapshot keeps, so that a
	// follower that fell a little behind catches up from the log; one
	// further behind, or a node joining, installs the snapshot. Default
	// 10240.
	TrailingLogs uint64
	// SnapshotThresholdBytes makes raft snapshot once the log entries
	// since the last snapshot hold this many bytes, whatever their count
	// (object chunks are up to 1 MiB each). Default 1 GiB; negative: off.
	SnapshotThresholdBytes int64
	// TrailingBytes sizes the trailing logs by bytes: at each snapshot the
	// count kept becomes what holds about this many bytes of recent
	// entries (at least 64, at most TrailingLogs). Default 256 MiB;
	// negative: counts only. See docs/DESIGN.md for the disk to expect.
	TrailingBytes int64
	// StartTimeout bounds how long Start (and New) waits for this node to
	// lead. It does not bound restoring the latest snapshot or replaying
	// the log after it: those take what the data needs, are logged as they
	// go, and the health service answers NOT_SERVING until they are done.
	// In a cluster, catching up with the leader (a snapshot install, then
	// the log) goes on past it for as long as the node makes progress; it
	// fails after a whole StartTimeout without any. Default 10s.
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
	// TLSCertFile and TLSKeyFile (PEM; waymakerd --tls-cert, --tls-key)
	// make the client port TLS only: TLS 1.2 at least, 1.3 preferred,
	// forward-secret AEAD suites only; a plaintext connection is refused
	// and logged ("plaintext connection refused on TLS port"). The files,
	// and the CA files below, are loaded again when their content changes
	// (checked every TLSReloadInterval) or on ReloadTLS; connections made
	// before keep working. Open refuses a missing file, a key that does
	// not match its certificate, or a CA file with no certificate, naming
	// the field, the flag and the file.
	TLSCertFile, TLSKeyFile string
	// ClientCAFile (--client-ca) requires every client of the client port
	// to present a certificate signed by one of its CAs (mutual TLS).
	ClientCAFile string
	// PeerTLSCertFile, PeerTLSKeyFile and PeerCAFile (--peer-tls-cert,
	// --peer-tls-key, --peer-ca) make the raft port mutual TLS: every node
	// presents its peer certificate and verifies the other's against
	// PeerCAFile, so a node without a valid certificate can neither join,
	// vote, replicate nor receive a snapshot. A peer certificate must name
	// the node's raft address (RaftAdvertise) and carry both the server and
	// the client extended key usages. With a TLS client port, nodes also
	// dial each other's client ports (forwarding, join) with it; see
	// docs/DESIGN.md, "Transport security".
	PeerTLSCertFile, PeerTLSKeyFile, PeerCAFile string
	// TLSReloadInterval is how often the TLS files are checked for a
	// change. Default 1s.
	TLSReloadInterval time.Duration
	// DisableSessions leaves the session service (waymaker.session.v1) out:
	// clients then make every call as a plain unary call, as against a
	// server that predates sessions. With it (the default), an SDK carries
	// unary calls as envelopes on a few long-lived streams, dispatched to
	// the same handlers behind the same interceptors (GRPCOptions' too),
	// and its long-lived server streams (watches, consumer deliveries, lock
	// events) as subscriptions on one Subscribe stream per connection, run
	// by the same stream handlers behind the server's own stream
	// interceptors (the starting gate, authentication, cluster routing,
	// metrics, the request log). Stream interceptors in GRPCOptions see
	// the Subscribe stream itself, not each subscription: gRPC hands a
	// stream handler no chain to pass them through.
	DisableSessions bool
	// MetricsListen, when set, serves Prometheus metrics on this host:port
	// at /metrics (docs/METRICS.md lists them). Empty serves none.
	MetricsListen string
	// Pprof serves net/http/pprof at /debug/pprof/ on the metrics listener
	// (never on the client port). Needs MetricsListen.
	Pprof bool
	// Auth turns on authentication and permissions (auth.go). The zero
	// value enforces nothing, as before.
	Auth AuthConfig

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
)

// validate reports the first unusable field, by name, and returns cfg with
// defaults applied.
func (cfg Config) validate() (Config, error) {
	if cfg.NodeID == "" {
		cfg.NodeID = raftnode.DefaultNodeID
	}
	if !raftnode.ValidNodeID(cfg.NodeID) {
		return cfg, fmt.Errorf("server: Config.NodeID %q: want 1..%d characters of [A-Za-z0-9._-]", cfg.NodeID, raftnode.MaxNodeIDLen)
	}
	if err := cfg.validateCluster(); err != nil {
		return cfg, err
	}
	if err := cfg.validateTLS(); err != nil {
		return cfg, err
	}
	if err := cfg.validateAuth(); err != nil {
		return cfg, err
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
		{"HeartbeatTimeout", cfg.HeartbeatTimeout},
		{"ElectionTimeout", cfg.ElectionTimeout},
		{"LeaderLeaseTimeout", cfg.LeaderLeaseTimeout},
		{"ForwardHold", cfg.ForwardHold},
		{"PromotionStabilization", cfg.PromotionStabilization},
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
	if cfg.PromotionStabilization == 0 {
		cfg.PromotionStabilization = defaultPromotionStabilization
	}
	if cfg.ForwardHold == 0 {
		cfg.ForwardHold = 2 * cmp.Or(cfg.ElectionTimeout, raftnode.DefaultElectionTimeout)
	}
	return cfg, nil
}

// clustered reports whether the node is a cluster member (reachable by
// other nodes), as opposed to a single node on an in-memory transport.
func (cfg Config) clustered() bool { return cfg.RaftListen != "" || cfg.RaftListener != nil }

func (cfg Config) validateCluster() error {
	if !cfg.clustered() {
		switch {
		case len(cfg.Bootstrap) > 0:
			return errors.New("server: Config.Bootstrap: a cluster needs RaftListen, the address the other nodes reach this one on")
		case cfg.Join != "":
			return errors.New("server: Config.Join: a cluster needs RaftListen, the address the other nodes reach this one on")
		}
		return nil
	}
	if cfg.Join != "" && len(cfg.Bootstrap) > 0 {
		return errors.New("server: Config.Join and Config.Bootstrap: a node either bootstraps a new cluster or joins a running one, not both")
	}
	for _, a := range []struct{ name, v string }{{"Join", cfg.Join}, {"Advertise", cfg.Advertise}, {"RaftAdvertise", cfg.RaftAdvertise}} {
		if a.v != "" {
			if err := raftnode.CheckAddr(a.name, a.v); err != nil {
				return fmt.Errorf("server: Config.%w", err)
			}
		}
	}
	if cfg.RaftListen != "" && cfg.RaftListener == nil {
		if _, _, err := net.SplitHostPort(cfg.RaftListen); err != nil {
			return fmt.Errorf("server: Config.RaftListen %q: want host:port: %v", cfg.RaftListen, err)
		}
	}
	return nil
}

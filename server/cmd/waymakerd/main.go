// Command waymakerd is the waymaker reference server.
//
//	waymakerd --data-dir /var/lib/waymaker
//
// It serves gRPC on 127.0.0.1:8818 unless --listen says otherwise. The
// default is loopback because without --auth-tokens (or --auth) the server
// authenticates nobody: who can reach the port can read and change
// everything, so --listen :8818 (every interface) without auth is for a
// network where that is acceptable.
//
// --auth-tokens FILE turns authentication and permissions on: bearer
// tokens, hashed ("waymakerd hash-token --user NAME < token" prints a
// line), and client certificate identities; --auth-bootstrap FILE seeds the
// first roles (docs/DESIGN.md, "Authentication and permissions").
//
// Without --data-dir everything is kept in memory and lost on exit. It stops
// gracefully on SIGINT or SIGTERM. --version prints the SDK's version, the
// Go version and the commit it was built from.
//
// Flags are checked and the listener bound before anything is opened, so a
// bad flag or a taken port fails at once. It listens while a restart
// replays a long raft log: until the replay is done (logged as it goes,
// entries replayed of the total) the gRPC health service answers
// NOT_SERVING and every other call fails with Unavailable. Only the wait
// for leadership (and in a cluster, to catch up with the leader) is
// bounded (--start-timeout, 10 s by default, then the daemon exits with an
// error); restoring the snapshot and replaying the log take what the data
// needs.
//
// --tls-cert and --tls-key serve the client port over TLS only, and
// --client-ca requires client certificates signed by its CAs; the raft
// port takes --peer-tls-cert, --peer-tls-key and --peer-ca (mutual TLS
// between nodes). waymakerd --dev-certs DIR writes a development CA and
// certificates for loopback and prints the flags that use them. The files
// are reloaded when they change and on SIGHUP, without dropping
// connections or leadership. See docs/DESIGN.md, "Transport security".
//
// --metrics-listen host:port serves Prometheus metrics at /metrics (see
// docs/METRICS.md), and with --pprof net/http/pprof at /debug/pprof/ on that
// listener only. --log-format console writes readable lines instead of JSON;
// at --log-level debug every request's method and code is logged.
//
// Raft snapshots the state and trims its log after --snapshot-threshold
// entries or --snapshot-threshold-bytes of them, whichever comes first, and
// keeps --trailing-logs entries (at most; --trailing-bytes sizes them by
// bytes) for followers a little behind. The defaults suit most loads; on a
// data dir expect two snapshots (about 76 MiB each per million 64-byte
// stream messages) plus the log between them (docs/DESIGN.md, "Retention
// by bytes").
//
// At the info level a start logs, one line each, the data dir (fresh, or
// restoring), the listen address, the replay (when there is one) and the
// leader; raft's own lines are at debug.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

// defaultListen is loopback until the server authenticates its clients.
const defaultListen = "127.0.0.1:8818"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "hash-token" {
		if err := hashToken(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "waymakerd:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "waymakerd:", err)
		os.Exit(1)
	}
}

type options struct {
	listen, dataDir, nodeID string
	level                   zap.AtomicLevel
	version                 bool
	metricsListen           string // ops: Prometheus listener
	pprof                   bool   // ops: pprof on the metrics listener
	logFormat               string // ops: json or console

	// Cluster mode.
	raftListen, raftAdvertise, advertise, join string
	bootstrap                                  []server.Peer
	heartbeat, election, leaderLease           time.Duration
	startTimeout                               time.Duration
	staleReads                                 bool

	// Snapshot and log retention; zero keeps the server's defaults.
	snapshotThreshold, trailingLogs       uint64
	snapshotInterval                      time.Duration
	snapshotThresholdBytes, trailingBytes int64

	// TLS (server/tls.go): the client port's and the raft port's files.
	tlsCert, tlsKey, clientCA, peerCert, peerKey, peerCA string
	// Authentication and permissions.
	auth     server.AuthConfig
	devCerts string // write development certificates there and exit
}

// parse reads the flags. --help prints the usage to stdout and returns
// flag.ErrHelp.
func parse(args []string, stdout io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("waymakerd", flag.ContinueOnError)
	var parseOut bytes.Buffer
	fs.SetOutput(&parseOut)
	fs.StringVar(&o.listen, "listen", defaultListen, "host:port to serve gRPC on. Loopback by default: without --auth-tokens or --auth there is\nno authentication, so whoever reaches the port can read and change everything; :8818 serves every interface")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory for the raft log and snapshots; empty keeps everything in memory, lost on exit")
	fs.StringVar(&o.nodeID, "node-id", "node1", "this node's raft ID; keep it stable for a data dir")
	fs.StringVar(&o.raftListen, "raft-listen", "", "host:port the raft transport listens on for the other nodes; empty runs a single node\nthat no other node can reach")
	fs.StringVar(&o.raftAdvertise, "raft-advertise", "", "the raft address the other nodes reach this one on, when --raft-listen is not (a wildcard host, a NAT)")
	fs.StringVar(&o.advertise, "advertise", "", "the client address other nodes and clients reach this node on; default: --listen\n(needed when --listen has a wildcard host)")
	bootstrap := fs.String("bootstrap", "", "the initial voters of a new cluster, this node among them: id=raft-host:port,...\n(give every initial voter the same list; ignored once the data dir holds state)")
	fs.StringVar(&o.join, "join", "", "client host:port of a node of a running cluster: ask it to add this node as a voter (staged as a non-voter until the leader promotes it, once caught up and stable)")
	fs.DurationVar(&o.heartbeat, "heartbeat-timeout", 0, "raft heartbeat timeout (cluster mode); 0: 250ms")
	fs.DurationVar(&o.election, "election-timeout", 0, "raft election timeout (cluster mode); 0: 250ms")
	fs.DurationVar(&o.leaderLease, "leader-lease-timeout", 0, "how long a raft leader stays leader without hearing from a quorum (cluster mode), at most\n--heartbeat-timeout; 0: 200ms, or the heartbeat timeout when shorter")
	fs.DurationVar(&o.startTimeout, "start-timeout", 0, "how long a start waits for a leader and, in a cluster, to catch up with it and announce itself\n(not restoring the snapshot or replaying the local log, which take what the data needs); 0: 10s")
	snapshotThreshold := fs.String("snapshot-threshold", "", "raft snapshots the state and trims the log after this many log `entries` since the last snapshot;\n0 or unset: 8192")
	snapshotThresholdBytes := fs.String("snapshot-threshold-bytes", "", "raft also snapshots once the log entries since the last snapshot hold this `size`, whatever their\ncount (object chunks are up to 1 MiB each): bytes, or with KiB, MiB or GiB (256MiB); off: by count only;\n0 or unset: 1GiB")
	fs.DurationVar(&o.snapshotInterval, "snapshot-interval", 0, "how often raft checks --snapshot-threshold (at a random moment between once and twice this);\nat least 5ms; 0: 2m")
	trailingLogs := fs.String("trailing-logs", "", "the most log `entries` a snapshot keeps, so that a follower a little behind catches up from the log\ninstead of installing the snapshot (--trailing-bytes sizes them by bytes within it); 0 or unset: 10240")
	trailingBytes := fs.String("trailing-bytes", "", "a snapshot keeps the latest log entries holding about this `size` (at least 64 entries, at most\n--trailing-logs): bytes, or with KiB, MiB or GiB; off: --trailing-logs alone; 0 or unset: 256MiB")
	fs.BoolVar(&o.staleReads, "stale-reads", false, "answer reads from this node's local state by default, without confirming it is current")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate of the client port: serve TLS only (1.2 at least), refusing plaintext; with --tls-key.\nReloaded when the file changes or on SIGHUP")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&o.clientCA, "client-ca", "", "PEM CA certificates: require every client to present a certificate signed by one (mutual TLS); needs --tls-cert")
	fs.StringVar(&o.peerCert, "peer-tls-cert", "", "PEM certificate of this node on the raft port (mutual TLS between nodes; with --peer-tls-key and --peer-ca).\nIt must name the raft address and allow server and client auth; with --tls-cert it is also\nthe client certificate a node forwards calls to the leader with")
	fs.StringVar(&o.peerKey, "peer-tls-key", "", "PEM private key of --peer-tls-cert")
	fs.StringVar(&o.peerCA, "peer-ca", "", "PEM CA certificates the other nodes' peer certificates must be signed by")
	fs.StringVar(&o.devCerts, "dev-certs", "", "write a development CA and certificates for loopback (127.0.0.1, ::1, localhost) into this\ndirectory, print the flags that use them, and exit")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "host:port to serve Prometheus metrics on (/metrics); empty serves none")
	fs.BoolVar(&o.pprof, "pprof", false, "serve net/http/pprof at /debug/pprof/ on the metrics listener (needs --metrics-listen)")
	fs.StringVar(&o.logFormat, "log-format", "json", "json (one JSON object a line) or console (readable)")
	fs.StringVar(&o.auth.TokensFile, "auth-tokens", "", "file of bearer tokens, hashed, one \"user: sha256:<hex>\" a line (waymakerd hash-token makes one);\nturns authentication and permissions on; reloaded when it changes")
	fs.StringVar(&o.auth.BootstrapFile, "auth-bootstrap", "", "JSON file of the first roles and bindings, {\"roles\": {name: [grants]}, \"users\": {identity: [roles]}};\napplied once, while the replicated permission data is empty")
	fs.BoolVar(&o.auth.Enabled, "auth", false, "turn authentication and permissions on without a tokens file (client certificates only)")
	nodeTokenFile := fs.String("auth-node-token-file", "", "file holding the secret the cluster's nodes present to each other (the same on every node);\nneeded in cluster mode with auth")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, "Usage: waymakerd [flags]\n       echo -n TOKEN | waymakerd hash-token [--user NAME]\n\nwaymakerd is the waymaker reference server: one raft node serving every\nwaymaker service over gRPC, alone or as a member of a cluster (--raft-listen\nwith --bootstrap or --join). It stops gracefully on SIGINT or SIGTERM.\n\nA local three-node cluster: scripts/local-cluster.sh, or by hand\n  waymakerd --node-id n1 --listen 127.0.0.1:8818 --raft-listen 127.0.0.1:7001 --data-dir d1 \\\n    --bootstrap n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003\n  and n2, n3 likewise on 8819/7002 and 8820/7003.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return o, err
		}
		return o, fmt.Errorf("%w (waymakerd --help lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: waymakerd takes flags only (waymakerd --help lists them)", fs.Args())
	}
	if o.version || o.devCerts != "" {
		return o, nil
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--leader-lease-timeout", o.leaderLease}, {"--start-timeout", o.startTimeout}, {"--snapshot-interval", o.snapshotInterval}} {
		if d.v < 0 {
			return o, fmt.Errorf("%s %v: must not be negative", d.flag, d.v)
		}
	}
	if o.snapshotInterval != 0 && o.snapshotInterval < 5*time.Millisecond {
		return o, fmt.Errorf("--snapshot-interval %v: must be at least 5ms (raft's minimum), or 0 for the default", o.snapshotInterval)
	}
	var err error
	for _, c := range []struct {
		flag string
		s    string
		v    *uint64
	}{{"--snapshot-threshold", *snapshotThreshold, &o.snapshotThreshold}, {"--trailing-logs", *trailingLogs, &o.trailingLogs}} {
		if *c.v, err = parseCount(c.s); err != nil {
			return o, fmt.Errorf("%s %q: %w", c.flag, c.s, err)
		}
	}
	for _, b := range []struct {
		flag string
		s    string
		v    *int64
	}{{"--snapshot-threshold-bytes", *snapshotThresholdBytes, &o.snapshotThresholdBytes}, {"--trailing-bytes", *trailingBytes, &o.trailingBytes}} {
		if *b.v, err = parseSize(b.s); err != nil {
			return o, fmt.Errorf("%s %q: %w", b.flag, b.s, err)
		}
	}
	if o.level, err = zap.ParseAtomicLevel(*logLevel); err != nil {
		return o, fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	if o.logFormat != "json" && o.logFormat != "console" {
		return o, fmt.Errorf("--log-format %q: want json or console", o.logFormat)
	}
	if o.pprof && o.metricsListen == "" {
		return o, errors.New("--pprof: pprof is served only on the metrics listener; give --metrics-listen too")
	}
	if *nodeTokenFile != "" {
		b, err := os.ReadFile(*nodeTokenFile)
		if err != nil {
			return o, fmt.Errorf("--auth-node-token-file: %w", err)
		}
		o.auth.NodeToken = strings.TrimSpace(string(b))
	}
	if strings.TrimSpace(*bootstrap) != "" {
		if o.bootstrap, err = server.ParsePeers(*bootstrap); err != nil {
			return o, fmt.Errorf("--bootstrap: %w", err)
		}
	}
	if o.raftListen == "" && (len(o.bootstrap) > 0 || o.join != "") {
		return o, errors.New("--bootstrap and --join need --raft-listen, the address the other nodes reach this one's raft on")
	}
	if o.raftListen != "" && o.advertise == "" {
		if host, _, err := net.SplitHostPort(o.listen); err == nil && (host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified()) {
			return o, fmt.Errorf("--advertise: --listen %q serves every interface, so give the address the other nodes and clients reach this one on", o.listen)
		}
	}
	return o, nil
}

// run is main without the process exits, so a test can drive it. ready, if
// not nil, receives the listen address once the server accepts connections,
// which is before it is ready: its health service says when it is.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready chan<- string) error {
	o, err := parse(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprint(stdout, versionText(debug.ReadBuildInfo()))
		return nil
	}
	if o.devCerts != "" {
		return writeDevCerts(o.devCerts, stdout)
	}

	// Bind before anything is opened or started: a taken port or a bad
	// address is the whole story, not the end of raft's.
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", o.listen, err)
	}
	defer lis.Close() // Serve closes it too; this covers the errors before

	// JSON lines to stderr, as zap's production config writes them, but
	// with readable times.
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	out := zapcore.Lock(zapcore.AddSync(stderr))
	log := zap.New(zapcore.NewCore(logEncoder(o.logFormat, enc), out, o.level), zap.AddCaller(), zap.ErrorOutput(out))
	defer log.Sync() //nolint:errcheck // stderr sync errors are not actionable

	// Whether the data dir holds a raft log is known only before Open,
	// which creates one.
	restoring := false
	if o.dataDir != "" {
		_, err := os.Stat(filepath.Join(o.dataDir, "raft.db"))
		restoring = err == nil
	}

	// Open and serve before Start: while a long log replays, health
	// checks get a NOT_SERVING answer (and other calls Unavailable) instead
	// of a refused connection, and the log says how far the replay is.
	advertise := o.advertise
	if advertise == "" && o.raftListen != "" {
		advertise = lis.Addr().String()
	}
	srv, err := server.Open(o.config(log, advertise))
	if err != nil {
		return openError(err, o.dataDir)
	}
	switch {
	case o.dataDir == "":
		log.Info("no data dir: the state is kept in memory and lost on exit")
	case restoring:
		log.Info("data dir holds a raft log: restoring its state", zap.String("data_dir", o.dataDir))
	default:
		log.Info("data dir is new: starting with an empty state", zap.String("data_dir", o.dataDir))
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// SIGHUP reloads the TLS files at once (they are also reloaded when
	// they change); the daemon keeps running whatever the outcome.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	hupDone, hupEnded := make(chan struct{}), make(chan struct{})
	defer func() { close(hupDone); <-hupEnded }()
	go func() {
		defer close(hupEnded)
		for {
			select {
			case <-hup:
				if err := srv.ReloadTLS(); err == nil {
					log.Info("SIGHUP: TLS files reloaded")
				}
			case <-hupDone:
				return
			}
		}
	}()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	if ready != nil {
		ready <- lis.Addr().String()
	}
	if err := srv.Start(ctx); err != nil {
		srv.Stop()
		<-served
		if ctx.Err() != nil {
			log.Info("shut down while starting", zap.String("cause", context.Cause(ctx).Error()))
			return nil
		}
		return err
	}
	if o.raftListen == "" {
		log.Info("leading: this node is the single voter and elected itself", zap.String("node_id", o.nodeID))
	} else {
		id, addr := srv.Leader()
		log.Info("cluster member ready", zap.String("node_id", o.nodeID), zap.String("leader_id", id), zap.String("leader_address", addr))
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down", zap.String("cause", context.Cause(ctx).Error()))
		srv.Stop()
		return <-served
	case err := <-served:
		srv.Stop()
		if err == nil {
			err = errors.New("server stopped unexpectedly")
		}
		return err
	}
}

// config is the server's configuration from the flags, with the logger
// and the client address to advertise.
func (o options) config(log *zap.Logger, advertise string) server.Config {
	return server.Config{DataDir: o.dataDir, NodeID: o.nodeID, Logger: log,
		MetricsListen: o.metricsListen, Pprof: o.pprof,
		RaftListen: o.raftListen, RaftAdvertise: o.raftAdvertise, Advertise: advertise,
		Bootstrap: o.bootstrap, Join: o.join, HeartbeatTimeout: o.heartbeat, ElectionTimeout: o.election,
		LeaderLeaseTimeout: o.leaderLease, StartTimeout: o.startTimeout,
		StaleReads:        o.staleReads,
		SnapshotThreshold: o.snapshotThreshold, SnapshotInterval: o.snapshotInterval, TrailingLogs: o.trailingLogs,
		SnapshotThresholdBytes: o.snapshotThresholdBytes, TrailingBytes: o.trailingBytes,
		TLSCertFile: o.tlsCert, TLSKeyFile: o.tlsKey, ClientCAFile: o.clientCA,
		PeerTLSCertFile: o.peerCert, PeerTLSKeyFile: o.peerKey, PeerCAFile: o.peerCA, Auth: o.auth}
}

// parseCount reads a count flag: empty is 0, the server's default.
func parseCount(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("want a count of log entries, 0 or more (0: the default)")
	}
	return n, nil
}

// sizeUnits are the suffixes parseSize takes, as tools/cmd/objmem's -size
// does.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseSize reads a byte-size flag: a count of bytes, or of KiB, MiB or
// GiB. Empty is 0, the server's default; "off" is -1, which turns the
// setting off (server.Config: negative).
func parseSize(s string) (int64, error) {
	switch s {
	case "":
		return 0, nil
	case "off":
		return -1, nil
	}
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSuffix(num, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("want a size: bytes, or a count of KiB, MiB or GiB (256MiB), 0 for the default, or off")
	}
	return n * mult, nil
}

// openError names the cause of a failed Open in the daemon's terms. bolt
// locks raft.db while it is open; failing to take that lock within its
// timeout means another process has the data dir.
func openError(err error, dataDir string) error {
	//lint:ignore SA1019 server/go.mod requires bbolt v1.3.5, which has no bbolt/errors package
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("--data-dir %q: another process holds it (its raft log %s is locked; is a waymakerd already running on it?): %w",
			dataDir, filepath.Join(dataDir, "raft.db"), err)
	}
	return err
}

// versionText says which SDK, Go and commit this binary was built from.
// The commit is known when it was built with go build inside a git
// checkout; go run and test binaries carry none.
func versionText(info *debug.BuildInfo, ok bool) string {
	commit := "unknown (not built by go build from a git checkout)"
	if ok {
		var rev, at, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			commit = rev
			if at != "" {
				commit += " (" + at + ")"
			}
			if modified == "true" {
				commit += " with uncommitted changes"
			}
		}
	}
	return fmt.Sprintf("waymakerd %s\ngo:     %s %s/%s\ncommit: %s\n", waymaker.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, commit)
}

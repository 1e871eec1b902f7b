package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/authpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/api"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/cluster"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/session"
)

// Server is a waymaker server: a raft node, its replicated state machines,
// and the gRPC services in front of them.
type Server struct {
	cfg      Config
	log      *zap.Logger
	fsm      *fsm.FSM
	node     *raftnode.Node
	grpc     *grpc.Server
	health   *health.Server
	ready    atomic.Bool // Start has finished: the state is whole
	stopping chan struct{}
	subs     api.Subscriptions // what watch and delivery streams hold for their readers
	stopOnce sync.Once

	// Cluster mode: routing of calls to the leader, the member record,
	// and the background work (health, announcing the client address).
	router     *router
	clusterSM  *cluster.Machine
	cluster    *api.ClusterService
	promoter   *promoter // the leader's promotion of staging members (promoter.go)
	bg         sync.WaitGroup
	servedAddr chan string // Serve's listener address, sent once
	ops        *ops        // metrics, request log, reflection, leader watch (ops.go)
	tls        *serverTLS  // certificates of the client and raft ports, reloaded (tls.go)
	auth       *authWiring // permission data and, when enforced, the authorizer (auth.go)
}

// New builds a server from cfg, starts raft, and returns once the server is
// ready: it leads and has re-applied everything committed before (so a
// restart on a DataDir has recovered its state). Then call Serve.
//
// New is Open followed by Start. A program that should answer health
// checks while a long log replays (a daemon behind a load balancer) calls
// Open, Serve and Start itself.
func New(cfg Config) (*Server, error) {
	s, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Start(context.Background()); err != nil {
		s.ops.stop()
		s.tls.close()
		_ = s.node.Shutdown()
		return nil, err
	}
	return s, nil
}

// Open validates cfg, opens the DataDir (removing snapshot folders a crash
// left half-written) and builds every service, but does not start raft.
// Serve may be called at once: until Start has returned, the health service
// answers NOT_SERVING and every other call fails with gRPC Unavailable
// (which the SDK retries), because the state is not whole before the log
// has been replayed. Call Start next, and Stop in any case.
func Open(cfg Config) (*Server, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg,
		log: cfg.Logger,
		fsm: fsm.NewWithDedup(cfg.Logger, fsm.DedupConfig{
			WindowMs:   cfg.RequestIDWindow.Milliseconds(),
			MaxEntries: cfg.RequestIDMaxEntries,
			MaxBytes:   cfg.RequestIDMaxBytes,
		}),
		health:     health.NewServer(),
		stopping:   make(chan struct{}),
		servedAddr: make(chan string, 1),
	}
	if s.tls, err = newServerTLS(cfg); err != nil {
		return nil, err
	}
	s.router = &router{s: s, hold: cfg.ForwardHold}
	if s.auth, err = newAuthWiring(cfg); err != nil {
		return nil, err
	}
	// The chain: the start gate, then (with auth on) authentication and
	// permissions, then (in a cluster) the routing to the leader, so a call
	// is checked on the node it reached before it is forwarded.
	unary := []grpc.UnaryServerInterceptor{s.gateUnary}
	streamIC := []grpc.StreamServerInterceptor{s.gateStream}
	if s.auth.az != nil {
		unary, streamIC = append(unary, s.authUnary), append(streamIC, s.authStream)
	}
	if cfg.clustered() {
		unary, streamIC = append(unary, s.router.unary), append(streamIC, s.router.stream)
	}
	gate := []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(streamIC...)}
	s.ops = newOps(s)
	// A subscription (internal/session) passes the server's own stream
	// interceptors as a gRPC stream of its method does: gRPC hands a stream
	// handler no chain, so it is named here, in gRPC's order.
	subChain := slices.Concat(s.ops.streamInterceptors(), streamIC)
	s.grpc = grpc.NewServer(slices.Concat(serverOptions(cfg), s.tls.serverOptions(), s.ops.serverOptions(), gate, cfg.GRPCOptions)...)
	// Not serving until raft is ready: a health-checking balancer must not
	// send traffic to a node that is still replaying its log.
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)

	rcfg := raftnode.Config{
		NodeID:                 cfg.NodeID,
		DataDir:                cfg.DataDir,
		UnsafeNoFsync:          cfg.UnsafeNoFsync,
		RaftBind:               cfg.RaftListen,
		RaftListener:           cfg.RaftListener,
		RaftAdvertise:          cfg.RaftAdvertise,
		Bootstrap:              cfg.Bootstrap,
		Join:                   cfg.Join != "",
		HeartbeatTimeout:       cfg.HeartbeatTimeout,
		ElectionTimeout:        cfg.ElectionTimeout,
		LeaderLeaseTimeout:     cfg.LeaderLeaseTimeout,
		Logger:                 cfg.Logger,
		TickInterval:           cfg.TickInterval,
		SnapshotThreshold:      cfg.SnapshotThreshold,
		SnapshotInterval:       cfg.SnapshotInterval,
		TrailingLogs:           cfg.TrailingLogs,
		SnapshotThresholdBytes: cfg.SnapshotThresholdBytes,
		TrailingBytes:          cfg.TrailingBytes,
		StartTimeout:           cfg.StartTimeout,
		ProgressInterval:       cfg.replayProgressInterval,
		PeerTLS:                s.tls.peerTLS(),
	}
	if cfg.Faults != nil {
		rcfg.WrapTransport = cfg.Faults.Wrap
	}
	s.node, err = raftnode.New(rcfg, s.fsm)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.clusterSM = cluster.New()
	if err := s.fsm.Register(s.clusterSM); err != nil {
		_ = s.node.Shutdown()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.node.SetClientAddrs(s.clusterSM.ClientAddr)
	deps := api.Deps{Node: s.node, Remembered: s.fsm.Remembered, Limits: cfg.Limits, Logger: cfg.Logger, Stopping: s.stopping, DataDir: cfg.DataDir, DisableCache: cfg.DisableCache, Subs: &s.subs}
	if cfg.clustered() {
		// Every read passes the read helper (api/propose.go), after its
		// validation: a refused read never waits for the leader.
		deps.ReadBarrier = s.router.readBarrier
	}
	// Every service is registered through reg, so the session service can
	// carry its unary calls to the same handlers (internal/session).
	reg := session.NewRegistrar(s.grpc)
	if err := registerSubsystems(s.fsm, reg, deps, s.auth.az); err != nil {
		_ = s.node.Shutdown()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.cluster = api.NewClusterService(s.clusterSM, s.node, deps)
	s.promoter = newPromoter(s)
	s.cluster.SetHealth(s.promoter.view)
	clusterpb.RegisterClusterServiceServer(reg, s.cluster)
	if err := s.fsm.Register(s.auth.m); err != nil {
		_ = s.node.Shutdown()
		return nil, fmt.Errorf("server: %w", err)
	}
	authpb.RegisterAuthServiceServer(reg, api.NewAuthService(s.auth.m, s.auth.az != nil, deps))
	if !cfg.DisableSessions {
		session.New(reg, session.Config{Stopping: s.stopping, MaxMessage: cfg.Limits.MaxMessageSize, StreamChain: chainStream(subChain)}).Register(s.grpc)
	}
	for _, sub := range cfg.extraSubsystems {
		if err := s.fsm.Register(sub); err != nil {
			_ = s.node.Shutdown()
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	if err := s.ops.attach(s.grpc); err != nil {
		_ = s.node.Shutdown()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.router.routes = routes(s.grpc)
	s.tls.start()
	return s, nil
}

// Start starts raft and returns once the server is ready, then reports
// SERVING. It restores the latest snapshot, waits up to StartTimeout for
// leadership, and replays the log after the snapshot, which is not bounded
// by StartTimeout: it takes what the data needs and is logged as it goes
// ("replaying the raft log", entries replayed of the total, every second).
// It returns early with an error when ctx ends or Stop is called; call Stop
// after an error. Call it once, after Open.
//
// In cluster mode Start returns once a leader is known and this node has
// caught up with it: a node given Join asks that node to add it first; a
// follower waits until it has applied what the leader had committed; and
// the node records its client address with the cluster, which refuses a
// node bootstrapped with a different list of initial voters.
func (s *Server) Start(ctx context.Context) error {
	if !s.cfg.clustered() {
		if err := s.node.Start(ctx); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		s.ready.Store(true)
		s.startAuth(ctx)
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		s.ops.watchLeader(s)
		s.log.Info("waymaker server ready", zap.String("node_id", s.cfg.NodeID))
		return nil
	}
	jctx, cancelJoin := context.WithCancel(ctx)
	defer cancelJoin()
	joined := make(chan error, 1)
	if s.cfg.Join != "" {
		go func() { joined <- s.join(jctx, s.cfg.Join) }()
	}
	if err := s.node.Start(ctx); err != nil {
		cancelJoin()
		if s.cfg.Join != "" {
			if jerr := <-joined; jerr != nil && !errors.Is(jerr, context.Canceled) {
				err = fmt.Errorf("%w; %v", err, jerr)
			}
		}
		if len(s.cfg.Bootstrap) > 0 && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (if this node was bootstrapped: every initial voter must be given the same --bootstrap list)", err)
		}
		return fmt.Errorf("server: %w", err)
	}
	// A restarted node learns where the leader serves clients from the log
	// it is catching up on, so it waits for a leader longer than a call.
	if err := s.catchUp(ctx); err != nil {
		return fmt.Errorf("server: catching up with the leader: %w", err)
	}
	cctx, cancel := context.WithTimeout(context.WithValue(ctx, longHold{}, true), max(s.cfg.StartTimeout, 10*time.Second))
	defer cancel()
	if s.announced(s.cfg.Advertise) {
		s.log.Debug("the cluster's record already holds this node's client address; no announce")
	} else if err := s.announce(cctx, s.cfg.Advertise); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.ready.Store(true)
	s.startAuth(ctx)
	s.bg.Add(2)
	go s.announceServed()
	go s.promoter.run()
	s.ops.watchLeader(s)
	s.log.Info("waymaker server ready", zap.String("node_id", s.cfg.NodeID), zap.String("raft_address", s.node.RaftAddr()))
	return nil
}

// catchUp returns once this node has applied everything the leader had
// committed (the read barrier). A node that joins, or that was down long
// enough to need a snapshot install, may take longer than StartTimeout to
// get there: it keeps waiting, one StartTimeout at a time, for as long as
// it is making progress (it has heard from the leader within that time, or
// applied more), and gives up only after a whole StartTimeout without any,
// or when ctx ends.
func (s *Server) catchUp(ctx context.Context) error {
	limit := max(s.cfg.StartTimeout, 10*time.Second)
	lctx := context.WithValue(ctx, longHold{}, true)
	applied := s.node.AppliedIndex()
	for {
		cctx, cancel := context.WithTimeout(lctx, limit)
		err := s.router.barrier(cctx, limit)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		now := s.node.AppliedIndex()
		if now == applied && !s.node.HeardFromLeader(limit) {
			return err
		}
		s.log.Info("still catching up with the leader",
			zap.Uint64("applied_index", now), zap.Uint64("applied_since_last_report", now-applied), zap.Error(err))
		applied = now
	}
}

// announceServed records the address Serve listens on as this node's
// client address, when Config.Advertise did not give one.
func (s *Server) announceServed() {
	defer s.bg.Done()
	if s.cfg.Advertise != "" {
		return
	}
	var addr string
	select {
	case addr = <-s.servedAddr:
	case <-s.stopping:
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := s.announce(ctx, addr); err != nil && ctx.Err() == nil {
		s.log.Error("cannot record this node's client address with the cluster", zap.Error(err))
	}
}

// errStarting answers every call but the health service's until Start has
// finished. Unavailable is what a client retries.
var errStarting = status.Error(codes.Unavailable, "waymaker server is starting: replaying its raft log")

func (s *Server) admitted(method string) bool {
	return s.ready.Load() || strings.HasPrefix(method, "/grpc.health.v1.Health/")
}

func (s *Server) gateUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if !s.admitted(info.FullMethod) {
		return nil, errStarting
	}
	return next(ctx, req)
}

func (s *Server) gateStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if !s.admitted(info.FullMethod) {
		return errStarting
	}
	return next(srv, ss)
}

// Serve accepts gRPC connections on lis until Stop. It returns nil after
// Stop, and otherwise the error that ended it. Call it once.
func (s *Server) Serve(lis net.Listener) error {
	s.log.Info("waymaker server listening", zap.String("addr", lis.Addr().String()),
		zap.String("node_id", s.cfg.NodeID), zap.String("data_dir", s.cfg.DataDir))
	select {
	case s.servedAddr <- lis.Addr().String():
	default:
	}
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop stops the server gracefully: it reports NOT_SERVING, tells long-lived
// handlers to end, lets in-flight RPCs finish for up to StopTimeout and then
// cuts the rest off, and finally shuts raft down and closes the stores.
// Every committed operation is durable (with a DataDir) before it was
// acknowledged, so nothing is flushed here. Safe to call more than once
// and concurrently; returns when the server is fully stopped.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.health.Shutdown()
		s.ops.stop()
		close(s.stopping)
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		t := time.NewTimer(s.cfg.StopTimeout)
		select {
		case <-done:
			t.Stop()
		case <-t.C:
			s.log.Warn("graceful stop timed out; closing remaining RPCs", zap.Duration("stop_timeout", s.cfg.StopTimeout))
			s.grpc.Stop()
			<-done
		}
		if err := s.node.Shutdown(); err != nil {
			s.log.Warn("raft shutdown", zap.Error(err))
		}
		s.bg.Wait()
		s.router.close()
		s.tls.close()
		s.log.Info("waymaker server stopped")
	})
}

// serverOptions come before Config.GRPCOptions, which may override them.
func serverOptions(cfg Config) []grpc.ServerOption {
	return []grpc.ServerOption{
		// One message limit, the SDK's too: gRPC's default 4 MiB receive
		// limit refused batches the SDK documents as valid.
		grpc.MaxRecvMsgSize(cfg.Limits.MaxMessageSize),
		grpc.MaxSendMsgSize(cfg.Limits.MaxMessageSize),
		// The SDK pings every 10 s, also with no stream open, so that a held
		// lock or a watch notices a dead server well inside a lease. gRPC's
		// default policy (one ping per 5 minutes) answers that with GOAWAY
		// too_many_pings and cuts the connection.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
	}
}

// HTTP/2 flow-control windows of the server and of its forwarding
// connections, fixed. gRPC's default sizes its windows by estimating the
// bandwidth-delay product, and to estimate it, it sends a PING with the
// first DATA frame it receives after the last estimate's answer: on a
// connection of one call at a time that is every request and every reply,
// each costing the peer a PING ACK, a write of its own. Fixed windows
// send none (BENCHMARKS.md, "Transport: fixed HTTP/2 windows"). 4 MiB per
// stream and 16 MiB per connection are above what the estimate reaches on
// loopback and a LAN, and no more than its 16 MiB ceiling, so one
// connection can make the server buffer no more than before. The SDK's
// transport fixes the same sizes on its side.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// Kill stops the server as a crash would, for fault tests: every
// connection is cut at once, in-flight calls get no reply, and raft stops
// without handing leadership to anyone, so the other nodes of a cluster
// notice only by their election timeout. Committed operations survive a
// restart on the same DataDir. Safe to call more than once, and with Stop.
func (s *Server) Kill() {
	s.stopOnce.Do(func() {
		s.ops.stop()
		close(s.stopping)
		s.grpc.Stop()
		if err := s.node.Shutdown(); err != nil {
			s.log.Debug("raft shutdown after kill", zap.Error(err))
		}
		s.health.Shutdown()
		s.bg.Wait()
		s.router.close()
		s.tls.close()
		s.log.Info("waymaker server killed")
	})
}

// NodeID is this node's raft id.
func (s *Server) NodeID() string { return s.cfg.NodeID }

// RaftAddr is the address this node's raft transport is reached on ("" for
// a single node, which has none).
func (s *Server) RaftAddr() string {
	if !s.cfg.clustered() {
		return ""
	}
	return s.node.RaftAddr()
}

// Suffrage is member id's standing in the configuration as this node
// knows it: "voter", "nonvoter", "staging" (added by AddVoter and not
// promoted yet), or "" when id is not a member (or raft has not started).
func (s *Server) Suffrage(id string) string {
	members, err := s.node.Members()
	if err != nil {
		return ""
	}
	for _, m := range members {
		if m.ID == id {
			if m.Suffrage == "nonvoter" && s.clusterSM.IsStaged(id) {
				return "staging"
			}
			return m.Suffrage
		}
	}
	return ""
}

// IsLeader reports whether this node leads and has established its term,
// so it serves writes and reads itself.
func (s *Server) IsLeader() bool { return s.node.Ready() }

// Leader returns the id and client address of the node this one believes
// leads, empty while none is known.
func (s *Server) Leader() (id, addr string) { return s.node.Leader() }

// LeaderChanged returns a channel closed at the next change of leader or of
// this node's readiness to lead.
func (s *Server) LeaderChanged() <-chan struct{} { return s.node.Changed() }

// chainStream composes stream interceptors as grpc.ChainStreamInterceptor
// does: the first is outermost. nil when there are none.
func chainStream(ics []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	if len(ics) == 0 {
		return nil
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return ics[0](srv, ss, info, chainedHandler(ics, 1, info, h))
	}
}

func chainedHandler(ics []grpc.StreamServerInterceptor, i int, info *grpc.StreamServerInfo, h grpc.StreamHandler) grpc.StreamHandler {
	if i == len(ics) {
		return h
	}
	return func(srv any, ss grpc.ServerStream) error {
		return ics[i](srv, ss, info, chainedHandler(ics, i+1, info, h))
	}
}

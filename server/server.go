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

	"git.awesomike.com/pub/waymaker-client/go/server/internal/api"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
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
	stopOnce sync.Once
	ops      *ops // metrics, request log, reflection, leader watch (ops.go)
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
		health:   health.NewServer(),
		stopping: make(chan struct{}),
	}
	gate := []grpc.ServerOption{grpc.ChainUnaryInterceptor(s.gateUnary), grpc.ChainStreamInterceptor(s.gateStream)}
	s.ops = newOps(s)
	s.grpc = grpc.NewServer(slices.Concat(serverOptions(cfg), s.ops.serverOptions(), gate, cfg.GRPCOptions)...)
	// Not serving until raft is ready: a health-checking balancer must not
	// send traffic to a node that is still replaying its log.
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.grpc, s.health)

	s.node, err = raftnode.New(raftnode.Config{
		NodeID:            cfg.NodeID,
		DataDir:           cfg.DataDir,
		Logger:            cfg.Logger,
		TickInterval:      cfg.TickInterval,
		SnapshotThreshold: cfg.SnapshotThreshold,
		SnapshotInterval:  cfg.SnapshotInterval,
		StartTimeout:      cfg.StartTimeout,
		ProgressInterval:  cfg.replayProgressInterval,
	}, s.fsm)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	deps := api.Deps{Node: s.node, Remembered: s.fsm.Remembered, Limits: cfg.Limits, Logger: cfg.Logger, Stopping: s.stopping, DataDir: cfg.DataDir, DisableCache: cfg.DisableCache}
	if err := registerSubsystems(s.fsm, s.grpc, deps); err != nil {
		_ = s.node.Shutdown()
		return nil, fmt.Errorf("server: %w", err)
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
	return s, nil
}

// Start starts raft and returns once the server is ready, then reports
// SERVING. It restores the latest snapshot, waits up to StartTimeout for
// leadership, and replays the log after the snapshot, which is not bounded
// by StartTimeout: it takes what the data needs and is logged as it goes
// ("replaying the raft log", entries replayed of the total, every second).
// It returns early with an error when ctx ends or Stop is called; call Stop
// after an error. Call it once, after Open.
func (s *Server) Start(ctx context.Context) error {
	if err := s.node.Start(ctx); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.ready.Store(true)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.ops.watchLeader(s)
	s.log.Info("waymaker server ready", zap.String("node_id", s.cfg.NodeID))
	return nil
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
	}
}

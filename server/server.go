package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

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
	stopping chan struct{}
	stopOnce sync.Once
}

// New builds a server from cfg, starts raft, and returns once the server is
// ready: it leads and has re-applied everything committed before (so a
// restart on a DataDir has recovered its state). Then call Serve.
func New(cfg Config) (*Server, error) {
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
		grpc:     grpc.NewServer(append(serverOptions(cfg), cfg.GRPCOptions...)...),
		health:   health.NewServer(),
		stopping: make(chan struct{}),
	}
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
	if err := s.node.Start(context.Background()); err != nil {
		_ = s.node.Shutdown()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return s, nil
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

package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/metrics"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/park"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
)

// ops is what a server does for its operators beside serving: the
// Prometheus listener, the request log at debug, gRPC reflection, and the
// leader watch that keeps the health service honest.
type ops struct {
	cfg     Config
	log     *zap.Logger
	metrics *metrics.Metrics // nil without MetricsListen

	lis  net.Listener // the metrics listener; nil without MetricsListen
	http *http.Server

	mu      sync.Mutex
	cancel  context.CancelFunc // ends the leader watch
	stopped bool
	wg      sync.WaitGroup
	once    sync.Once
}

func newOps(s *Server) *ops {
	o := &ops{cfg: s.cfg, log: s.log}
	if s.cfg.MetricsListen != "" {
		o.metrics = metrics.New(metrics.Sources{Raft: func() (st raftnode.Stats, ok bool) {
			if s.node == nil {
				return st, false
			}
			return s.node.Stats()
		}, Gauges: func() []fsm.Gauge { return append(s.fsm.Gauges(), s.subs.Gauges()...) }})
	}
	return o
}

// serverOptions go before the starting gate, so refused calls are counted
// and logged too.
func (o *ops) serverOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(o.logUnary), grpc.ChainStreamInterceptor(o.logStream)}
	if o.metrics != nil {
		opts = append(o.metrics.ServerOptions(), opts...)
	}
	return opts
}

// streamInterceptors are the stream interceptors of serverOptions, in
// their order, for the subscriptions that pass them without gRPC.
func (o *ops) streamInterceptors() []grpc.StreamServerInterceptor {
	ics := []grpc.StreamServerInterceptor{o.logStream}
	if o.metrics != nil {
		ics = append([]grpc.StreamServerInterceptor{o.metrics.StreamInterceptor()}, ics...)
	}
	return ics
}

// attach registers reflection on the client port (so grpcurl works) and
// binds the metrics listener, so that a taken port fails Open.
func (o *ops) attach(g *grpc.Server) error {
	reflection.Register(g)
	if o.metrics == nil {
		return nil
	}
	lis, err := net.Listen("tcp", o.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("Config.MetricsListen %q: %w", o.cfg.MetricsListen, err)
	}
	o.lis = lis
	o.http = &http.Server{Handler: o.metrics.Handler(o.cfg.Pprof), ReadHeaderTimeout: 10 * time.Second}
	o.wg.Go(func() {
		if err := o.http.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.log.Warn("metrics listener stopped", zap.Error(err))
		}
	})
	o.log.Info("serving metrics", zap.String("addr", lis.Addr().String()), zap.Bool("pprof", o.cfg.Pprof))
	return nil
}

// watchLeader keeps the health service at NOT_SERVING while the node has
// no leader (an election, a partition) and logs every leader change.
func (o *ops) watchLeader(s *Server) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	first := true
	o.wg.Go(func() {
		_ = s.node.WatchLeader(ctx, func(leader string) {
			o.setLeader(s, leader, first)
			first = false
		})
	})
}

func (o *ops) setLeader(s *Server, leader string, first bool) {
	st := healthpb.HealthCheckResponse_SERVING
	if leader == "" {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	s.health.SetServingStatus("", st)
	if !first || leader == "" {
		o.log.Info("raft leader changed", zap.String("leader", leader), zap.String("node_id", o.cfg.NodeID), zap.Bool("serving", leader != ""))
	}
}

// stop closes the metrics listener and ends the leader watch. Safe to call
// more than once.
func (o *ops) stop() {
	o.once.Do(func() {
		o.mu.Lock()
		o.stopped = true
		if o.cancel != nil {
			o.cancel()
		}
		o.mu.Unlock()
		if o.http != nil {
			_ = o.http.Close()
		}
		o.wg.Wait()
	})
}

// MetricsAddr is the metrics listener's address, "" without MetricsListen.
func (s *Server) MetricsAddr() string {
	if s.ops == nil || s.ops.lis == nil {
		return ""
	}
	return s.ops.lis.Addr().String()
}

func (o *ops) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	ce := o.log.Check(zap.DebugLevel, "rpc")
	if ce == nil {
		return next(ctx, req)
	}
	start := time.Now()
	resp, err := next(ctx, req)
	ce.Write(zap.String("method", info.FullMethod), zap.String("code", metrics.Code(resp, err)), zap.Duration("took", time.Since(start)))
	return resp, err
}

func (o *ops) logStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	if !o.log.Core().Enabled(zap.DebugLevel) {
		return next(srv, ss)
	}
	start := time.Now()
	err := next(srv, ss)
	end := func(err error) {
		o.log.Debug("rpc stream", zap.String("method", info.FullMethod), zap.String("code", metrics.Code(nil, err)), zap.Duration("took", time.Since(start)))
	}
	if !park.AtEnd(ss, err, end) {
		end(err)
	}
	return err
}

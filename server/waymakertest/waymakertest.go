package waymakertest

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/server"
)

// Option configures Start.
type Option func(*options)

type options struct {
	dataDir   string
	tempDir   bool
	configure []func(*server.Config)
	fsync     bool
	ca        *CA          // WithTLS, WithMutualTLS
	mutual    bool         // client certificates required
	auth      *authOptions // WithAuth
}

// WithFsync makes StartCluster's nodes fsync every raft log write, as a
// production node does (and as Start's servers with a data dir always do).
func WithFsync() Option { return func(o *options) { o.fsync = true } }

// WithDataDir makes the server durable in dir: Restart keeps its data, and
// a later Start on the same dir finds it.
func WithDataDir(dir string) Option {
	return func(o *options) { o.dataDir, o.tempDir = dir, false }
}

// WithTempDataDir makes the server durable in a t.TempDir(), removed when
// the test ends, so Restart keeps the data.
func WithTempDataDir() Option {
	return func(o *options) { o.dataDir, o.tempDir = "", true }
}

// WithConfig lets f adjust the server.Config (limits, logger, tick
// interval, ...) before every start. The data dir options apply first.
func WithConfig(f func(*server.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, f) }
}

// WithAbruptStop makes Stop and Restart cut the server off as a crash
// would: in-flight calls are dropped after a millisecond instead of being
// let finish, so a client sees replies lost for operations that may or may
// not have been applied. Everything committed still survives a Restart
// with a data dir.
func WithAbruptStop() Option {
	return WithConfig(func(c *server.Config) { c.StopTimeout = time.Millisecond })
}

// Server is a running test server.
type Server struct {
	t    testing.TB
	cfg  server.Config
	addr string
	// raftAddr is a cluster node's raft address, kept across Restart.
	raftAddr string

	mu     sync.Mutex
	srv    *server.Server // nil while stopped
	served chan error
}

// Start starts a server on 127.0.0.1 at a free port and stops it when the
// test ends. Without a data dir option it keeps everything in memory.
// It fails the test if the server cannot start.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.tempDir {
		o.dataDir = t.TempDir()
	}
	cfg := server.Config{DataDir: o.dataDir}
	o.applyTLS(&cfg, false)
	if o.auth != nil {
		o.configure = append([]func(*server.Config){o.auth.configure(t, false)}, o.configure...)
	}
	for _, f := range o.configure {
		f(&cfg)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("waymakertest: listen: %v", err)
	}
	s := &Server{t: t, cfg: cfg, addr: lis.Addr().String()}
	// Registered before starting, so a server that started is always
	// stopped, even when the test fails right after.
	t.Cleanup(s.Stop)
	if err := s.start(lis); err != nil {
		t.Fatalf("waymakertest: %v", err)
	}
	return s
}

func (s *Server) start(lis net.Listener) error {
	srv, err := server.New(s.cfg)
	if err != nil {
		lis.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	s.mu.Lock()
	s.srv, s.served = srv, served
	s.mu.Unlock()
	return nil
}

// Addr is the server's host:port. It stays the same across Restart.
func (s *Server) Addr() string { return s.addr }

// MetricsAddr is the metrics listener's address, "" unless the server was
// started with Config.MetricsListen (WithConfig).
func (s *Server) MetricsAddr() string {
	if srv := s.server(); srv != nil {
		return srv.MetricsAddr()
	}
	return ""
}

// DataDir is the server's data directory, or "" in memory mode.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// Stop stops the server, gracefully. Safe to call more than once; Start
// registers it with t.Cleanup.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Stop()
	if err := <-served; err != nil {
		s.t.Errorf("waymakertest: Serve: %v", err)
	}
}

// Restart stops the server and starts it again on the same address, so
// connected clients reconnect to it. With a data dir (WithDataDir,
// WithTempDataDir) every committed operation survives; in memory mode the
// restarted server starts empty, like a real server restarted without
// --data-dir. It fails the test if the server cannot start again.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	lis, err := listenAgain(s.addr)
	if err != nil {
		s.t.Fatalf("waymakertest: restart: listen on %s: %v", s.addr, err)
	}
	if err := s.start(lis); err != nil {
		s.t.Fatalf("waymakertest: restart: %v", err)
	}
}

// listenAgain binds addr again. Go's listeners set SO_REUSEADDR, so on
// Linux this succeeds at once; some systems keep a just-closed port busy
// briefly, which the bounded retry rides out.
func listenAgain(addr string) (net.Listener, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		lis, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return lis, err
		}
		<-time.After(20 * time.Millisecond)
	}
}

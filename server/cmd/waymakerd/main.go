// Command waymakerd is the waymaker reference server.
//
//	waymakerd --listen :8818 --data-dir /var/lib/waymaker
//
// Without --data-dir everything is kept in memory and lost on exit. It stops
// gracefully on SIGINT or SIGTERM.
//
// It listens at once, also while a restart replays a long raft log: until
// the replay is done (logged as it goes, entries replayed of the total) the
// gRPC health service answers NOT_SERVING and every other call fails with
// Unavailable. Only the wait for leadership is bounded (10 s, then the
// daemon exits with an error); restoring the snapshot and replaying the
// log take what the data needs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/server"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "waymakerd:", err)
		os.Exit(1)
	}
}

// run is main without the process exits, so a test can drive it. ready, if
// not nil, receives the listen address once the server accepts connections,
// which is before it is ready: its health service says when it is.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("waymakerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":8818", "address to serve gRPC on")
	dataDir := fs.String("data-dir", "", "directory for the raft log and snapshots; empty keeps everything in memory")
	nodeID := fs.String("node-id", "node1", "this node's raft ID; keep it stable for a data dir")
	peers := fs.String("peers", "", "comma-separated addresses of the other voters (cluster mode: not implemented yet)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	level, err := zap.ParseAtomicLevel(*logLevel)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	zcfg := zap.NewProductionConfig()
	zcfg.Level = level
	zcfg.ErrorOutputPaths = []string{"stderr"}
	zcfg.OutputPaths = []string{"stderr"}
	log, err := zcfg.Build()
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr sync errors are not actionable

	var peerList []string
	for p := range strings.SplitSeq(*peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			peerList = append(peerList, p)
		}
	}

	// Open, listen and serve before Start: while a long log replays, health
	// checks get a NOT_SERVING answer (and other calls Unavailable) instead
	// of a refused connection, and the log says how far the replay is.
	srv, err := server.Open(server.Config{DataDir: *dataDir, NodeID: *nodeID, Peers: peerList, Logger: log})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		srv.Stop()
		return fmt.Errorf("--listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

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

// Command logging passes a zap logger to the SDK and shows what it logs.
//
//	go run ./examples/logging
//
// The SDK takes any *zap.Logger through one option:
//
//	waymaker.Connect(ctx, addr, waymaker.WithLogger(logger))
//
// Without it the SDK logs nothing (zap.NewNop). With it, the SDK logs at
// one level only, Debug, and only when something is recovered from rather
// than on every call:
//
//	Debug  "waymaker: retrying call"             an idempotent call failed with a
//	                                             retryable error (Unavailable, not_leader)
//	                                             and is tried again after a backoff
//	Debug  "waymaker: stream dropped, rebinding" a watch, consumer, lock-event or object
//	                                             stream broke and is reopened from its
//	                                             resume point
//	Debug  "waymaker: cannot dial leader hint"   a not_leader answer named a leader that
//	                                             could not be dialed
//	Debug  "waymaker: lease renewal failed, ..." a lock renewal failed and is tried at the
//	                                             next interval
//	Debug  "waymaker: lock lost"                 a held lock's lease was lost
//
// Info, Warn and Error get nothing: what goes wrong for good reaches the
// caller as an error, and the caller decides what to log. So a service
// logs at Info in production and sees nothing from the SDK, and turns on
// Debug to watch retries and rebinds.
//
// The program embeds a server with a data dir, starts a KV watch, restarts
// the server under it, and writes to it while it is down: the Debug lines
// above appear, and the watch and the write both carry on.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "waymaker-logging-example-")
	if err == nil {
		defer os.RemoveAll(dir)
		err = run(ctx, os.Stdout, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "logging:", err)
		os.Exit(1)
	}
}

// seen counts the SDK's log lines by level and tells when a message first
// appears.
type seen struct {
	mu      sync.Mutex
	levels  map[zapcore.Level]int
	waiting map[string]chan struct{}
}

func (s *seen) hook(e zapcore.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.levels[e.Level]++
	for msg, ch := range s.waiting {
		if strings.HasPrefix(e.Message, msg) {
			close(ch)
			delete(s.waiting, msg)
		}
	}
	return nil
}

// when returns a channel closed once a line starting with msg is logged.
func (s *seen) when(msg string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.waiting[msg] = ch
	return ch
}

// serve runs a server on dir at addr ("127.0.0.1:0" for any port) and
// returns its address and its stop.
func serve(dir, addr string) (string, func(), error) {
	srv, err := server.New(server.Config{DataDir: dir})
	if err != nil {
		return "", nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		srv.Stop()
		return "", nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	return lis.Addr().String(), func() { srv.Stop(); <-served }, nil
}

func run(ctx context.Context, w io.Writer, dir string) error {
	addr, stop, err := serve(dir, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer func() { stop() }()

	// Console lines at Debug, to w; a hook counts them by level.
	s := &seen{levels: map[zapcore.Level]int{}, waiting: map[string]chan struct{}{}}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	lw := &lockedWriter{w: w}
	logger := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(lw), zap.DebugLevel),
		zap.Hooks(s.hook))
	defer logger.Sync() //nolint:errcheck // a console's sync error is not actionable

	client, err := waymaker.Connect(ctx, addr, waymaker.WithLogger(logger))
	if err != nil {
		return err
	}
	defer client.Close()
	say := func(format string, args ...any) { logger.Sugar().Infof("example: "+format, args...) }

	b, err := client.KeyValue().GetOrCreate(ctx, kv.Config{Name: "settings"})
	if err != nil {
		return err
	}
	if _, err := b.Put(ctx, "mode", []byte("fast")); err != nil {
		return err
	}
	watch, err := b.Watch(ctx, "mode", kv.UpdatesOnly())
	if err != nil {
		return err
	}
	defer watch.Stop()
	say("a put and a watch: the SDK logged nothing (calls that succeed are not logged)")

	rebinding, retrying := s.when("waymaker: stream dropped"), s.when("waymaker: retrying call")
	say("stopping the server under the watch")
	stop()
	stop = func() {}
	if err := wait(ctx, rebinding, "the watch to notice"); err != nil {
		return err
	}

	put := make(chan error, 1)
	go func() {
		_, err := b.Put(ctx, "mode", []byte("safe"))
		put <- err
	}()
	if err := wait(ctx, retrying, "the put to retry"); err != nil {
		return err
	}
	say("restarting the server on %s, same data dir", addr)
	_, stop2, err := serve(dir, addr)
	if err != nil {
		return err
	}
	stop = stop2
	if err := <-put; err != nil {
		return fmt.Errorf("the put across the restart: %w", err)
	}
	var ev kv.Event
	for ev.Put == nil {
		if ev, err = watch.Next(); err != nil {
			return err
		}
	}
	say("the watch, rebound from its revision, saw mode=%s; the put was retried until the server was back", ev.Put.Value)

	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(lw, "SDK lines by level: debug %d, info %d, warn %d, error %d (the info lines are this example's own)\n",
		s.levels[zap.DebugLevel], s.levels[zap.InfoLevel], s.levels[zap.WarnLevel], s.levels[zap.ErrorLevel])
	return nil
}

func wait(ctx context.Context, ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
	}
}

// lockedWriter serializes the logger's writes, which come from the SDK's
// goroutines too.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

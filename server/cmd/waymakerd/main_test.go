package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestMain(m *testing.M) {
	// TestSignalStops runs the daemon in a child process, as waymakerd.
	if args := os.Getenv("WAYMAKERD_CHILD_ARGS"); args != "" {
		if err := run(context.Background(), strings.Fields(args), os.Stderr, nil); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "info"}, &logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	// ready comes once the daemon listens, which may be before its start
	// is complete: wait for SERVING.
	watch, err := healthpb.NewHealthClient(conn).Watch(cctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := watch.Recv()
		if err != nil {
			t.Fatalf("health: %v", err)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--log-level", "loud"},
		{"--peers", "10.0.0.2:8818"},
		{"--listen", "not an address"},
		{"--no-such-flag"},
		{"extra"},
	} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, &stderr, nil); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// SIGTERM stops the daemon gracefully: it exits 0 and logs the stop.
func TestSignalStops(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WAYMAKERD_CHILD_ARGS=--listen 127.0.0.1:0 --data-dir "+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &lockedWriter{w: &stderr, seen: make(chan struct{}), want: []byte("waymaker server listening")}
	lw := cmd.Stderr.(*lockedWriter)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lw.seen:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("daemon never logged its listen address: %s", lw.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, lw.String())
	}
	if !strings.Contains(lw.String(), "waymaker server stopped") {
		t.Fatalf("no graceful stop logged:\n%s", lw.String())
	}
}

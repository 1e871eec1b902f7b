package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

func TestMain(m *testing.M) {
	// The child is main itself, with these arguments.
	if args := os.Getenv("WAYMAKERD_CHILD_ARGS"); args != "" {
		os.Args = append([]string{"waymakerd"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// logLine is one JSON line of the daemon's log.
type logLine struct {
	Level  string `json:"level"`
	Logger string `json:"logger"`
	Msg    string `json:"msg"`
	Fields map[string]any
}

func parseLog(t *testing.T, out string) []logLine {
	t.Helper()
	var lines []logLine
	for _, raw := range strings.Split(strings.TrimSpace(out), "\n") {
		if raw == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		if err := json.Unmarshal([]byte(raw), &l.Fields); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	return lines
}

// serveOnce runs the daemon with args until it is SERVING, stops it, and
// returns its log.
func serveOnce(t *testing.T, args ...string) []logLine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), io.Discard, &logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	waitServing(t, addr)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	return parseLog(t, logs.String())
}

// waitServing waits until the health service at addr says SERVING: the
// daemon reports its address once it listens, which may be before its
// start is complete.
func waitServing(t *testing.T, addr string) {
	t.Helper()
	waitServingWithin(t, addr, 10*time.Second)
}

// waitServingWithin is waitServing with its own bound, for a restart that
// may replay a long log before it serves.
func waitServingWithin(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel() // ends the watch, which a graceful stop would wait for
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := watch.Recv()
		if err != nil {
			t.Fatalf("health of %s (bound %v): %v", addr, d, err)
		}
		if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
	}
}

func find(lines []logLine, msgPart string) (logLine, bool) {
	for _, l := range lines {
		if strings.Contains(l.Msg, msgPart) {
			return l, true
		}
	}
	return logLine{}, false
}

// At info a start says where it listens, what the data dir held, what was
// replayed and who leads, and nothing in raft's words: no raft line and no
// warning (a single node's first election is routine).
func TestInfoLogTellsTheStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wm")
	check := func(lines []logLine, dataLine string) {
		t.Helper()
		for _, l := range lines {
			if l.Logger == "raft" || strings.HasPrefix(l.Logger, "raft.") {
				t.Errorf("raft line at info: %+v", l.Fields)
			}
			if l.Level != "info" {
				t.Errorf("%s line on a clean start: %+v", l.Level, l.Fields)
			}
		}
		if l, ok := find(lines, "listening"); !ok || !strings.HasPrefix(l.Fields["addr"].(string), "127.0.0.1:") {
			t.Errorf("no listen address: %+v", lines)
		}
		if l, ok := find(lines, dataLine); !ok || l.Fields["data_dir"] != dir {
			t.Errorf("no %q line naming the data dir: %+v", dataLine, lines)
		}
		if l, ok := find(lines, "leading"); !ok || l.Fields["node_id"] != "node1" {
			t.Errorf("no leader line: %+v", lines)
		}
	}

	fresh := serveOnce(t, "--data-dir", dir)
	check(fresh, "data dir is new")
	if _, ok := find(fresh, "replayed"); ok {
		t.Errorf("a fresh start logged a replay: %+v", fresh)
	}

	restart := serveOnce(t, "--data-dir", dir)
	check(restart, "restoring its state")
	if l, ok := find(restart, "raft log replayed"); !ok || l.Fields["replayed"].(float64) < 1 {
		t.Errorf("a restart did not say how many entries it replayed: %+v", restart)
	}

	mem := serveOnce(t)
	if _, ok := find(mem, "kept in memory"); !ok {
		t.Errorf("no line saying the state is in memory: %+v", mem)
	}
}

// A bad flag fails before anything is opened or started: nothing is
// logged, the data dir is not created, and the error names the flag.
func TestRunRejectsBadFlags(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--bootstrap", "n1=127.0.0.1:7001"}, "--raft-listen"},
		{[]string{"--join", "127.0.0.1:8818"}, "--raft-listen"},
		{[]string{"--raft-listen", "127.0.0.1:0", "--bootstrap", "n1"}, "--bootstrap"},
		{[]string{"--raft-listen", "127.0.0.1:0", "--listen", ":0"}, "--advertise"},
		{[]string{"--listen", "not an address"}, "--listen"},
		{[]string{"--listen", taken.Addr().String()}, "address already in use"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--start-timeout", "-1s"}, "--start-timeout"},
		{[]string{"--leader-lease-timeout", "-1s"}, "--leader-lease-timeout"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		dir := filepath.Join(t.TempDir(), "wm")
		var stderr bytes.Buffer
		err := run(context.Background(), append(tc.args, "--data-dir", dir), io.Discard, &stderr, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error naming %q", tc.args, err, tc.want)
		}
		if stderr.Len() > 0 {
			t.Errorf("run(%q) logged before failing:\n%s", tc.args, stderr.String())
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("run(%q) touched the data dir: %v", tc.args, err)
		}
	}
}

// child starts main in a child process with args.
func child(t *testing.T, args string, stdout, stderr io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WAYMAKERD_CHILD_ARGS="+args)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd
}

func TestHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := child(t, "--help", &stdout, &stderr).Run(); err != nil {
		t.Fatalf("waymakerd --help: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"Usage: waymakerd", "-listen", "127.0.0.1:8818", "no authentication", "-data-dir", "-version"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help output lacks %q:\n%s", want, stdout.String())
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("--help wrote to stderr: %s", stderr.String())
	}
	// A wrong flag still fails, and says where the flags are listed.
	stdout.Reset()
	stderr.Reset()
	if err := child(t, "--no-such-flag", &stdout, &stderr).Run(); err == nil {
		t.Fatal("waymakerd --no-such-flag exited 0")
	}
	if !strings.Contains(stderr.String(), "--help") {
		t.Errorf("unknown flag error does not point at --help: %s", stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, &stdout, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"waymakerd " + waymaker.Version, runtime.Version(), "commit:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--version output lacks %q:\n%s", want, stdout.String())
		}
	}

	built := &debug.BuildInfo{Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-01T21:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := versionText(built, true)
	if !strings.Contains(got, "commit: 0123456789abcdef0123456789abcdef01234567 (2026-12-01T21:00:00Z) with uncommitted changes") {
		t.Errorf("versionText from a git build:\n%s", got)
	}
	if got := versionText(&debug.BuildInfo{}, true); !strings.Contains(got, "commit: unknown") {
		t.Errorf("versionText without vcs settings:\n%s", got)
	}
}

// A second daemon on a data dir that a running one holds says so, instead
// of bolt's bare "timeout".
func TestSecondDaemonOnAHeldDataDir(t *testing.T) {
	dir := t.TempDir()
	lw := &lockedWriter{w: io.Discard, seen: make(chan struct{}), want: []byte("waymaker server listening")}
	first := child(t, "--listen 127.0.0.1:0 --data-dir "+dir, io.Discard, lw)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = first.Process.Signal(syscall.SIGTERM)
		_ = first.Wait()
	}()
	select {
	case <-lw.seen:
	case <-time.After(30 * time.Second):
		_ = first.Process.Kill()
		t.Fatalf("first daemon never listened: %s", lw.String())
	}

	err := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", dir}, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "another process holds it") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second daemon on %s: %v, want that another process holds it", dir, err)
	}
}

// SIGTERM stops the daemon gracefully: it exits 0 and logs the stop.
func TestSignalStops(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	lw := &lockedWriter{w: &stderr, seen: make(chan struct{}), want: []byte("waymaker server listening")}
	cmd := child(t, "--listen 127.0.0.1:0 --data-dir "+dir, io.Discard, lw)
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

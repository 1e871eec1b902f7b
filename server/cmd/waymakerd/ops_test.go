package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestOpsFlagsRejected(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--pprof"}, "--metrics-listen"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), tc.args, io.Discard, &stderr, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
}

// --metrics-listen serves /metrics, and the log says where.
func TestMetricsListenServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs lockedBuffer
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--pprof"}, io.Discard, &logs, ready)
	}()
	select {
	case addr := <-ready:
		waitServing(t, addr)
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	l, ok := find(parseLog(t, logs.String()), "serving metrics")
	if !ok {
		t.Fatalf("no line naming the metrics address: %s", logs.String())
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		resp, err := http.Get("http://" + l.Fields["addr"].(string) + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || (path == "/metrics" && !strings.Contains(string(body), "waymaker_raft_is_leader 1")) {
			t.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

func TestConsoleLogFormat(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs lockedBuffer
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--log-format", "console"}, io.Discard, &logs, ready)
	}()
	select {
	case addr := <-ready:
		waitServing(t, addr)
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	first := strings.SplitN(out, "\n", 2)[0]
	if strings.HasPrefix(first, "{") || !strings.Contains(first, "\tINFO\t") || !strings.Contains(out, "waymaker server listening") {
		t.Fatalf("console log = %q", out)
	}
}

// lockedBuffer is a log sink read while the daemon still writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

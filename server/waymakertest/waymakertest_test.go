package waymakertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"git.awesomike.com/pub/waymaker-client/go/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func dial(t *testing.T, addr string) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// serving waits (WaitForReady) for the server at the client's address to
// answer SERVING.
func serving(t *testing.T, hc healthpb.HealthClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %v", resp.GetStatus())
	}
}

func TestStartServes(t *testing.T) {
	srv := Start(t)
	if srv.DataDir() != "" {
		t.Fatalf("in-memory server has data dir %q", srv.DataDir())
	}
	serving(t, dial(t, srv.Addr()))
}

// A client connected before Restart reaches the restarted server at the
// same address, which found its data dir again.
func TestRestartSameAddressSameDataDir(t *testing.T) {
	srv := Start(t, WithTempDataDir())
	addr, dir := srv.Addr(), srv.DataDir()
	hc := dial(t, addr)
	serving(t, hc)

	srv.Restart()
	if srv.Addr() != addr || srv.DataDir() != dir {
		t.Fatalf("restart moved: %s %s -> %s %s", addr, dir, srv.Addr(), srv.DataDir())
	}
	serving(t, hc)
	if fi, err := os.Stat(filepath.Join(dir, "raft.db")); err != nil || fi.Size() == 0 {
		t.Fatalf("raft log in data dir: %v", err)
	}
	srv.Restart() // in a row, too
	serving(t, hc)
}

func TestStopIdempotentAndRestartAfterStop(t *testing.T) {
	srv := Start(t)
	srv.Stop()
	srv.Stop()
	srv.Restart() // a stopped server can be started again
	serving(t, dial(t, srv.Addr()))
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	var seen server.Config
	srv := Start(t, WithDataDir(dir), WithConfig(func(c *server.Config) {
		c.NodeID = "custom"
		seen = *c
	}))
	if srv.DataDir() != dir || seen.DataDir != dir || seen.NodeID != "custom" {
		t.Fatalf("options not applied: %+v", seen)
	}
	serving(t, dial(t, srv.Addr()))
}

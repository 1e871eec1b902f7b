package e2e

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestServerIsHealthyOnceConnected(t *testing.T) {
	c := start(t)
	resp, err := grpc_health_v1.NewHealthClient(c.Conn()).Check(testCtx(t, 10*time.Second), &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, want SERVING", resp.GetStatus())
	}
}

func TestCallAfterCloseFailsWithErrClosed(t *testing.T) {
	c := start(t)
	_ = c.Close()
	_, err := transport.Call(context.Background(), c.Conn(), transport.Idempotent,
		func(ctx context.Context) (*cachepb.CacheServiceStatsResponse, error) {
			return cachepb.NewCacheServiceClient(c.Conn()).Stats(ctx, &cachepb.CacheServiceStatsRequest{})
		})
	if !errors.Is(err, waymaker.ErrClosed) {
		t.Fatalf("call after Close = %v, want ErrClosed", err)
	}
}

func TestClientReconnectsAfterServerRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	health := grpc_health_v1.NewHealthClient(c.Conn())
	ctx := testCtx(t, 20*time.Second)
	if _, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	// WaitForReady makes the call wait for the reconnect instead of failing fast.
	resp, err := health.Check(ctx, &grpc_health_v1.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("health after Restart: %v", err)
	}
	if resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Fatalf("health after Restart = %v", resp.GetStatus())
	}
}

func TestTestNamesAreValidResourceNames(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	seen := map[string]bool{}
	for _, sub := range []string{"a b/c", "ünïcode", "x.y.z"} {
		t.Run(sub, func(t *testing.T) {
			n := name(t)
			if !valid.MatchString(n) || seen[n] {
				t.Fatalf("name(t) = %q: want a unique [A-Za-z0-9_-] name", n)
			}
			seen[n] = true
		})
	}
}

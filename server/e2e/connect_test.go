package e2e

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/health/grpc_health_v1"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestServerIsHealthyOnceConnected(t *testing.T) {
	c := start(t)
	resp, err := grpc_health_v1.NewHealthClient(c.Conn()).Check(testCtx(t, 10e9), &grpc_health_v1.HealthCheckRequest{})
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

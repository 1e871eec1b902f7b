// Package embed gives every example a server to talk to: the one at
// WAYMAKER_ADDR when that is set (one address, or a cluster's nodes
// separated by commas), otherwise a reference server started
// inside the example's own process. WAYMAKER_TLS_CA (and, for a server
// that requires client certificates, WAYMAKER_TLS_CERT and
// WAYMAKER_TLS_KEY) dial it over TLS, as waymakerd --dev-certs prints.
package embed

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

// Connect returns a client and a stop function that closes the client and,
// when one was started, the embedded server.
func Connect(ctx context.Context) (*waymaker.Client, func(), error) {
	addr := os.Getenv("WAYMAKER_ADDR")
	stopServer := func() {}
	if addr == "" {
		srv, err := server.New(server.Config{})
		if err != nil {
			return nil, nil, fmt.Errorf("start embedded server: %w", err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			srv.Stop()
			return nil, nil, err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Serve(lis)
		}()
		addr = lis.Addr().String()
		stopServer = func() {
			srv.Stop()
			<-done
		}
		fmt.Printf("started an embedded waymaker server on %s (set WAYMAKER_ADDR to use another)\n", addr)
	} else {
		fmt.Printf("will use the waymaker server at %s (WAYMAKER_ADDR)\n", addr)
	}
	// A comma-separated list names the nodes of a cluster.
	var opts []waymaker.Option
	if ca, cert, key := os.Getenv("WAYMAKER_TLS_CA"), os.Getenv("WAYMAKER_TLS_CERT"), os.Getenv("WAYMAKER_TLS_KEY"); ca != "" || cert != "" || key != "" {
		opts = append(opts, waymaker.WithTLSFiles(ca, cert, key))
	}
	client, err := waymaker.ConnectMulti(ctx, strings.Split(addr, ","), opts...)
	if err != nil {
		stopServer()
		return nil, nil, err
	}
	// Connect does not touch the network; ask the server's health service
	// now, so that a wrong address fails here, in a second, and not as the
	// first call's retries running out.
	if err := checkReachable(ctx, client, addr); err != nil {
		_ = client.Close()
		stopServer()
		return nil, nil, err
	}
	return client, func() {
		_ = client.Close()
		stopServer()
	}, nil
}

// checkReachable asks the gRPC health service at addr, for up to 5 s.
func checkReachable(ctx context.Context, client *waymaker.Client, addr string) error {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(client.Conn()).Check(hctx, &healthpb.HealthCheckRequest{})
	switch {
	case err != nil:
		return fmt.Errorf("no waymaker server answers at %s: %v (start one with go run ./server/cmd/waymakerd, or unset WAYMAKER_ADDR to embed one)", addr, err)
	case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		fmt.Printf("the server at %s answers but is %v (still starting); calls retry until it is ready\n", addr, resp.GetStatus())
	default:
		fmt.Printf("the server at %s answers: %v\n", addr, resp.GetStatus())
	}
	return nil
}

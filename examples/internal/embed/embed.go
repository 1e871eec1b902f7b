// Package embed gives every example a server to talk to: the one at
// WAYMAKER_ADDR when that is set, otherwise a reference server started
// inside the example's own process.
package embed

import (
	"context"
	"fmt"
	"net"
	"os"

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
		fmt.Printf("using the waymaker server at %s\n", addr)
	}
	client, err := waymaker.Connect(ctx, addr)
	if err != nil {
		stopServer()
		return nil, nil, err
	}
	return client, func() {
		_ = client.Close()
		stopServer()
	}, nil
}

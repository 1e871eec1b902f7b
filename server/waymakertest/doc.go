// Package waymakertest runs a real waymaker server for tests, in the spirit
// of net/http/httptest: Start listens on a loopback port, registers its own
// Stop with t.Cleanup, and hands back the address to connect to.
//
//	func TestOrders(t *testing.T) {
//		srv := waymakertest.Start(t, waymakertest.WithTempDataDir())
//		client, err := waymaker.Connect(ctx, srv.Addr())
//		...
//		srv.Restart() // same address, same data: clients reconnect
//	}
//
// TLS: NewCA(t) makes a test CA and certificates for 127.0.0.1;
// Start(t, WithMutualTLS(ca)) serves TLS requiring client certificates, and
// StartCluster with WithTLS or WithMutualTLS also runs raft over mutual TLS:
//
//	ca := waymakertest.NewCA(t)
//	srv := waymakertest.Start(t, waymakertest.WithMutualTLS(ca))
//	client, err := waymaker.Connect(ctx, srv.Addr(),
//		waymaker.WithTLSFiles(ca.CAFile, ca.ClientCertFile, ca.ClientKeyFile))
//
// It is the reference server itself, raft and all, not a fake: what passes
// against it passes against waymakerd.
package waymakertest

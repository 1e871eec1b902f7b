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
// It is the reference server itself, raft and all, not a fake: what passes
// against it passes against waymakerd.
package waymakertest

// Package waymaker is the Go client for the waymaker coordination-and-data
// server, spoken to over gRPC: distributed locks with fence tokens and leader
// election, streams with durable consumers, a KV store with revisions,
// compare-and-set and watch, Redis-shaped hashes, sets and queues,
// probabilistic sketches, a chunked object store, and cache policies on KV
// buckets.
//
// # Which package to import
//
//   - This package, waymaker, for everything through one [Client]: its
//     methods (AcquireLock, GetOrCreateKV, GetOrCreateStream, ...) and type
//     aliases keep the published client README's samples compiling, and
//     [Client.Locks], [Client.KeyValue], [Client.Streams], ... hand out the
//     subsystem clients.
//   - One subsystem package plus [transport], for a service that needs only
//     that subsystem: [lock], [kv], [stream], [collections], [sketch],
//     [objstore] or [cache]. Each depends on transport and its own generated
//     stubs only.
//   - git.awesomike.com/pub/waymaker-client/go/server/waymakertest in tests:
//     waymakertest.Start(t) runs the reference server in the test's process
//     on a loopback port. It lives in the server module, so only tests pull
//     in raft and bolt.
//   - genpb/<name>pb for the raw generated gRPC stubs, which callers rarely
//     need.
//
// # Connecting
//
// [Connect] takes one host:port (the default port is 8818), [ConnectMulti]
// several, balanced round-robin. Neither waits for the network: the first
// call connects, and calls retry through outages until their context's
// deadline (see [transport] for the retry rule). Options: [WithTLS] (or
// [WithTLSFiles], a CA file and optionally a client certificate),
// [WithToken], [WithCallTimeout], [WithBackoff], [WithLogger]. A Client is
// safe for concurrent use; [Client.Close] stops everything it started, and
// leaves held locks to expire on their leases.
//
//	client, err := waymaker.Connect(ctx, "localhost:8818")
//	if err != nil {
//		return err
//	}
//	defer client.Close()
//	lock, err := client.AcquireLock(ctx, "leader:reports", waymaker.LockConfig{LeaseTTL: 30 * time.Second})
//
// # Errors
//
// A call that fails returns an [*Error]: its Kind says where it failed
// ([KindRPC] on the wire, [KindServer] a result code from the server,
// [KindInvalid] an argument refused before anything was sent, naming it),
// Code is the server's result code ("expired", "not_found",
// "wrong_revision", ...) and Message says what happened. Test for a code
// with [IsServerCode] or errors.Is and a sentinel ([ErrExpired],
// [ErrNotFound], [ErrWrongRevision], [ErrCompacted], ...); errors.As finds
// the *Error.
//
// # The server
//
// The reference server, on hashicorp/raft, is the module
// git.awesomike.com/pub/waymaker-client/go/server: package server embeds it
// in any Go program (server.New, Serve, Stop), and server/cmd/waymakerd is
// the daemon.
//
// # Examples
//
// The Examples of this package (on [Client], [Connect] and the package
// itself) and of the subsystem packages compile, and all but Example_errors
// do not run: they dial a server at localhost:8818 (cd server && go run
// ./cmd/waymakerd starts one). The runnable ones start a server in their own
// process and check their output; they are in the server module's
// server/e2e directory, one or two per subsystem (kv_example_test.go,
// lock_example_test.go, stream_example_test.go, sketch_example_test.go,
// and the Example functions of collections_test.go, objstore_test.go and
// cache_test.go). Run them with:
//
//	cd server && go test -run Example ./e2e/
//
// The published client README's samples run verbatim in seed_test.go and
// server/e2e/seed_*_test.go, and examples/tour walks every subsystem.
package waymaker

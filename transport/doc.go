// Package transport is the one connection layer every waymaker subsystem
// client shares: dialing one or several servers, per-call deadlines, retries
// with backoff for idempotent calls, leader routing, the stream-rebinding
// loop, and the mapping of every failure to *Error.
//
// A subsystem builds its generated gRPC client on a *Conn (Conn implements
// grpc.ClientConnInterface), runs unary calls through Call, and keeps server
// streams alive with Follow. No subsystem writes its own retry loop.
//
// Standalone use of one subsystem:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"}, transport.WithLogger(log))
//	if err != nil { ... }
//	defer conn.Close()
//	locks := lock.New(conn)
package transport

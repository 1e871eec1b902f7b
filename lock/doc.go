// Package lock is the waymaker lock client: leases with fence tokens, shared and exclusive locks, multi-key locks and leader election.
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := lock.New(conn)
package lock

// Package stream is the waymaker stream client: subject-addressed streams with durable push and pull consumers.
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := stream.New(conn)
package stream

// Package sketch is the waymaker sketch client: Bloom filters, HyperLogLog, Count-Min, Top-K and t-digest.
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := sketch.New(conn)
package sketch

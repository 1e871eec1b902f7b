// Package objstore is the waymaker object store client: chunked, digest-checked objects streamed in bounded memory.
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := objstore.New(conn)
package objstore

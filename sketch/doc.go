// Package sketch is the waymaker sketch client: Bloom filters, HyperLogLog,
// Count-Min, Top-K and t-digest, each result meaning what the RedisBloom
// command of the same name answers (BF.ADD reports whether an item was new,
// CMS.INCRBY the new counts, TOPK.ADD the items expelled, TDIGEST.RANK the
// rank, ...).
//
// Sketches live in the server's replicated state, so every replica and
// every restart answers the same. One file per kind: bloom.go, hll.go,
// cms.go, topk.go, tdigest.go; sketch.go holds what they share (Kind, Info,
// List, Delete).
//
// Handles are cheap: c.Bloom(name) touches no network; CreateBloom and
// OpenBloom do. Adds and queries take many items per call, which is how to
// make them fast: one round trip for a whole batch.
//
// Bad arguments fail before anything is sent with an *transport.Error of
// Kind "invalid" naming the field. Every mutation carries a request id, so
// increments (CMS, Top-K) and t-digest adds retried after an unknown outcome
// count once, within the server's window of request ids.
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := sketch.New(conn)
//
// # Runnable examples
//
// This package's Examples compile but do not run: they dial a server at
// localhost:8818. ExampleClient_CreateBloom and ExampleClient_CreateTDigest
// in server/e2e/sketch_example_test.go (the server module) start a server in
// their own process and check their output. Run them with:
//
//	cd server && go test -run Example ./e2e/
package sketch

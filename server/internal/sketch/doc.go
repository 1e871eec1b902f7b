// Package sketch is the server's deterministic state machine for
// probabilistic sketches: scalable Bloom filters (on bits-and-blooms/bloom),
// HyperLogLog, Count-Min, Top-K (HeavyKeeper) and t-digest, with the
// meanings RedisBloom's commands give them.
//
// Mutations arrive through raft as commands (Apply with an Op and the RPC's
// marshalled request) and reads are answered from local state by the read
// methods. Nothing here reads a clock or an unseeded random source: Top-K
// keeps its pseudo-random state inside the sketch, so every replica and
// every replay reaches the same bytes, and Snapshot/Restore reproduce the
// state exactly.
package sketch

// Package collections is the replicated state machine behind the
// collections service: hash stores, set stores and reliable queues.
//
// Mutations arrive as raft commands (Apply, with the leader's clock in AtMs)
// and are applied deterministically: no clock reads, no randomness other
// than a PRNG seeded from the state (SPOP), maps walked in sorted order
// wherever the order reaches the state. Reads (HGET, SISMEMBER, queue
// length, ...) are answered straight from the state under a read lock, with
// the caller's clock used only to hide hash fields whose TTL has passed but
// that the next tick has not removed yet.
//
// Time-driven changes (hash field TTLs, queue delays, visibility timeouts,
// retention) happen in Tick and, lazily, before any queue command, so every
// replica changes the same things at the same log position.
package collections

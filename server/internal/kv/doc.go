// Package kv is the reference server's KV state machine: buckets of keys,
// each change a new revision of its bucket, with per-key history, TTL
// expiry, compare-and-set and the reads that watches are built on.
//
// Everything that changes state arrives through ApplyOp (one raft command)
// or Tick (the leader's clock, through the log), so every replica and every
// replay reaches the same state; time is only the command's AtMs. Reads are
// answered from the state under a read lock, and every change wakes
// the API layer's waiters of its bucket (Watch, a notify.Waiter) after the
// lock is released.
//
// Watches read each bucket's change log (changes.go): its last changes,
// bounded by count and bytes (SetWatchBacklog), kept whether or not the
// history still retains them, and part of the snapshot. A watch gets every
// change above its resume point, or "compacted" when some of them are no
// longer kept; never a gap.
package kv

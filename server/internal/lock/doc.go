// Package lock is the server's lock state machine: leases with fence
// tokens, shared and exclusive grants, multi-key grants and FIFO waiters.
//
// One Table type holds the state. The quorum table (Machine) is a
// raft subsystem: every mutation is a command applied in log order with the
// leader's time, so it is deterministic, snapshotted and restored whole. The
// API layer keeps a second Table for LOCAL scope, driven directly with its
// own clock and never replicated.
//
// Invariants the table keeps:
//   - Fence tokens strictly increase per key with every grant, forever: each
//     key carries its counter in the replicated state, and a key nobody holds
//     or waits for is forgotten only after its counter is folded into a
//     table-wide floor that every new key starts from.
//   - An exclusive grant never overlaps another grant of the same key; shared
//     grants overlap only each other.
//   - Waiters are served in one global FIFO order: a waiter is granted only
//     when no waiter ahead of it on any of its keys conflicts with it, so a
//     writer is never overtaken by later readers, and a multi-key waiter is
//     granted all its keys in one step. Because every queue follows the same
//     global order, the oldest waiter is only ever blocked by holders, whose
//     leases end: no deadlock.
//   - Waiters are replicated state. A waiting call that is cancelled
//     proposes the removal of its waiter (naming its attempt, so a newer
//     re-issue that took the place over is kept); a waiter whose call died
//     with its server is removed by its own deadline (max_wait) at the
//     latest. Were waiters kept out of the replicated state instead, the
//     leader alone would order them, and a failover would silently reorder
//     or drop them.
//   - Leases and waits end only through Tick (or at the start of any later
//     command) at the command's time, in deadline order. A lease that
//     expired is never renewed.
package lock

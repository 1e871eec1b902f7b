// Package lock is the waymaker lock client: leases with fence tokens, shared
// and exclusive locks, multi-key locks and leader election.
//
// # Fencing writes
//
// (*Lock).Fence (Fence(key) for each key of a MultiLock) gives
// the transport.Fence of a held grant. Every subsystem's writes take it
// (kv.WithFence, stream.WithFence, objstore.WithFence, cache.WithFence,
// collections.WithFence or a collections handle's WithFence), and the
// server then applies the write only if, at its place in the log, the lock
// is still held with that token; otherwise nothing changes and the write
// fails with ErrFenced. The check is the server's, in the same replicated
// log as the write, so a holder paused past its lease cannot write through
// it. Only quorum-scope locks (the default) can fence: a local-scope grant
// is not replicated.
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := lock.New(conn)
//	l, err := c.Acquire(ctx, "leader:reports", lock.Config{LeaseTTL: 30 * time.Second})
//
// # Leader election
//
// Election is a recipe on this package's own calls: Campaign waits in FIFO
// order for the election's key and returns a Leadership, a held Lock
// renewed in the background, whose Fence every leader write should carry;
// Resign hands over at once. Leader reads the current leader's value and
// fence; Observe delivers every change of leader once, in apply order,
// from the server's replicated record of the key's holders, and resumes
// after a reconnect or failover from its last revision (ErrCompacted,
// never a gap, when the server no longer keeps the changes after it).
//
// # Acquiring
//
// Acquire takes a key exclusively, AcquireRead shares it with other readers,
// MultiLock takes several keys at once, all or none. With Config.MaxWait 0
// a held key fails at once with a server error of code "expired"; with
// MaxWait > 0 the call waits in FIFO order, so a waiting writer is never
// overtaken by readers that arrive after it. Cancelling the context abandons
// the wait, and the server drops the waiter.
//
// # Leases and fence tokens
//
// Every grant carries a fence token that strictly increases per key, across
// server restarts and snapshot restores (ScopeQuorum). Pass it with every
// write to a fenced resource, re-reading it (FenceToken) before each write.
// The lease lives on the server's TTL: SpawnRenewal renews it on a schedule,
// independently of the caller's work loop and of the event stream.
//
// # Loss detection and rebinding
//
// A Lock follows its lease's server event stream from a background
// goroutine, started a quarter of the TTL (at most 200ms) after the grant:
// a lock released sooner costs one TryAcquire and one Release, nothing
// more. When the stream drops (connection reset, server restart), the
// goroutine re-opens it with the same request id, MaxWait 0 and recover_only:
// a lease the server still holds is recovered with the same fence token,
// never re-contended; a lease that is gone makes the lock lost. The lock is
// also lost when the server reports it expired or revoked, when a renewal is
// refused ("lease_expired", "not_owner"), and when the client cannot confirm
// the lease before its expiry (measured on the client's clock from the
// moment the acquiring or renewing request was sent, so never later than the
// server's). Watch returns a channel closed on every change; once the lock is
// lost it stays closed, so checking IsLost after it fires never misses a
// loss.
//
// Dropping a Lock without Unlock does not release it: the lease expires on
// its TTL. Unlock is idempotent for a held lock, and never succeeds silently
// for a lost one.
//
// # Runnable examples
//
// This package's Examples compile but do not run: they dial a server at
// localhost:8818. ExampleClient_AcquireLock and ExampleClient_MultiLock in
// server/e2e/lock_example_test.go (the server module) start a server in
// their own process and check their output. Run them with:
//
//	cd server && go test -run Example ./e2e/
package lock

// Package kv is the waymaker KV client: buckets of keys with revisions,
// compare-and-set, history, TTL and watches.
//
// Every change in a bucket (put, delete, purge, TTL expiry) takes the
// bucket's next revision, so revisions strictly increase across its keys.
// Get then Update with the revision read is a compare-and-set; Create
// stores only when a key has no live value. A bucket keeps up to History
// entries per key (default 1, at most 64) and, with a TTL, expires entries
// on the server's clock.
//
// Keys are dot-separated tokens of [A-Za-z0-9_=/.-] (no leading, trailing or
// double dot, at most 1024 bytes); Watch and KeysMatching patterns use "*"
// for one token and a final ">" for one or more. Bad input fails before
// anything is sent, with a *transport.Error of Kind "invalid" naming the
// field.
//
// Retries: every call is retried on its own after a lost reply, a cut
// connection, Unavailable or a server restart, until its context ends (or
// the Conn's Backoff.MaxElapsed). Reads are simply sent again. Every
// mutation (Put, Create, Update, Delete, Purge, and the bucket calls)
// carries a request id made once per call, and the server answers a retry
// with the answer of the attempt that was applied: a Put is stored once and
// answers its first revision, a Create or Update retried after its reply
// was lost answers success, not ErrExists or ErrWrongRevision. The server
// remembers an answer for its request-id window (2 minutes by default).
//
// A Watcher delivers the current values (or the history), an InitialDone
// event, then every change in revision order, each exactly once, whatever
// the bucket's History: a value overwritten before the watcher reached it
// is still delivered. Its stream rebinds by itself after a drop (a server
// restart, a network failure), from the last revision it delivered, so the
// caller sees no gap and no duplicate. It ends as every SDK iterator does
// (see the transport package doc, # Iterators): Next returns the zero Event
// with a non-nil error saying why (io.EOF after Stop).
//
// The server keeps each bucket's most recent changes for its watchers,
// besides the history: the reference server keeps the last 10,000 changes,
// at most 64 MiB of their keys and values (server Limits WatchBacklog and
// WatchBacklogBytes). A watcher that falls further behind than that (it
// stops reading while writers go on), or resumes from a revision older
// than that, is never skipped forward: it delivers every change up to where
// it fell behind, then ends with an error matching transport.ErrCompacted
// (waymaker.ErrCompacted), whose message names the revision it can resume
// from. Watch again to start over from the current values.
//
// # Fenced writes
//
// Put, Create, Update, Delete and Purge take kv.WithFence(l.Fence()), the
// fence of a held lock (transport.Fence): the server applies the write only
// if, at its place in the log, that lock is held exclusively with that
// fence token by a lease that has not expired. Otherwise nothing changes
// and the call fails with ErrFenced (transport.ErrFenced, result code
// "fenced"), whose message gives the current token. A leader paused past
// its lease (GC, SIGSTOP, a VM migration) thus cannot overwrite what its
// successor wrote, on any node and across leader changes and restarts:
//
//	l, err := locks.Acquire(ctx, "leader", lock.Config{})
//	_, err = bucket.Put(ctx, "config", v, kv.WithFence(l.Fence()))
//	if errors.Is(err, transport.ErrFenced) { /* no longer the leader: stop */ }
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := kv.New(conn)
//	bucket, err := c.GetOrCreate(ctx, kv.Config{Name: "config"})
//
// # Runnable examples
//
// This package's Examples compile but do not run: they dial a server at
// localhost:8818. ExampleClient_GetOrCreateKV in
// server/e2e/kv_example_test.go (the server module) starts a server in its
// own process and checks its output. Run it with:
//
//	cd server && go test -run Example ./e2e/
package kv

// Package collections is the waymaker collections client: Redis-shaped hash
// and set stores, and a reliable SQS-like queue.
//
// A hash store holds many keys, each one hash (field -> value); a set store
// holds many keys, each one set of members. Their methods are the Redis
// commands of the same meaning, with the same results: Set answers how many
// fields were new (HSET), Get on a missing field fails with
// transport.ErrNotFound (HGET's nil), MGet marks missing fields (HMGET),
// Expire gives a field a time to live (HPEXPIRE), Pop removes random members
// (SPOP), and so on. A key exists while it holds something.
//
// A Queue delivers at least once: Pop hides a message for its visibility
// timeout and hands out a receipt, Ack deletes it, and a message not acked
// in time (or Nacked) returns to the queue, or to the dead-letter queue once
// it has been received MaxReceiveCount times.
//
// Retries: every call is retried on its own after a lost reply, a cut
// connection, Unavailable or a server restart, until its context ends (or
// the Conn's Backoff.MaxElapsed). Every mutation carries a request id made
// once per call, and the server answers a retry with the answer of the
// attempt that was applied, so the Redis counts stay true through a retry:
// Set of a new field answers 1 (not 0), Del of an existing field 1, Add of
// a new member 1, IncrBy adds once, a set Pop removes once, a Push answers
// Duplicate false and stores once, and a queue Pop whose reply was lost
// answers the message it took. The server remembers an answer for its
// request-id window (2 minutes by default). Push's id (WithID) is your own
// deduplication on top: a second Push with an id seen within the queue's
// dedupe window answers Duplicate true.
//
// # Fenced writes
//
// HashStore, SetStore and Queue handles have WithFence(l.Fence()), which
// returns a copy of the handle whose writes (hash and set writes,
// DeleteKeys, queue Push and Ack) carry the fence of a held lock
// (transport.Fence): the server applies each only if, at its place in the
// log, that lock is held exclusively with that token by a live lease.
// Otherwise nothing changes and the call fails with ErrFenced (result
// code "fenced", the message giving the current token). A single Push or
// Ack also takes the package-level option, as kv, stream and objstore
// writes do: q.Push(ctx, payload, collections.WithFence(l.Fence())).
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := collections.New(conn)
//	users, err := c.GetOrCreateHashStore(ctx, collections.HashStoreConfig{Name: "users"})
//	added, err := users.Set(ctx, "user:1", map[string][]byte{"name": []byte("Ada")})
//
// Arguments are checked before anything is sent: a bad one fails with a
// *transport.Error of Kind "invalid" naming it.
//
// # Runnable examples
//
// This package's Examples compile but do not run: they dial a server at
// localhost:8818. Example_collectionsQueue in server/e2e/collections_test.go
// (the server module) starts a server in its own process and checks its
// output. Run it with:
//
//	cd server && go test -run Example ./e2e/
package collections

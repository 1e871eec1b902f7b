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
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := collections.New(conn)
//	users, err := c.GetOrCreateHashStore(ctx, collections.HashStoreConfig{Name: "users"})
//	added, err := users.Set(ctx, "user:1", map[string][]byte{"name": []byte("Ada")})
//
// Arguments are checked before anything is sent: a bad one fails with a
// *transport.Error of Kind "invalid" naming it.
package collections

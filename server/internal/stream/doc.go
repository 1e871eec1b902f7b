// Package stream is the reference server's stream state machine, in the
// shape of NATS JetStream: streams that bind subjects and store published
// messages under retention limits (count, bytes, age, per subject), with a
// deduplication window on msg_id, and consumers on them (durable or
// ephemeral, push or pull) that track a position, the messages delivered
// and not yet acked, and redeliver after AckWait up to MaxDeliver.
//
// Everything that changes state arrives through Apply (one raft command:
// a publish, an ack, a delivery chosen by the leader) or Tick (expiry of
// messages, ack waits and idle ephemeral consumers, through the log), so
// every replica reaches the same state; time is only the command's AtMs.
// Reads (StreamInfo, GetMsg, ConsumerInfo, ...) run under the read lock. After a
// command changes what a stream's waiters look at (new messages, freed
// ack slots, due redeliveries), the machine wakes them (Watch, a
// notify.Waiter), outside its lock.
//
// Publish routing and overlap checks between streams' subjects use a
// subject trie (subjindex.go).
package stream

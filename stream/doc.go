// Package stream is the waymaker stream client: subject-addressed,
// append-only streams with durable push and pull consumers.
//
// A stream stores every message published on a subject it binds (subjects
// are dot-separated tokens; a stream's Subjects may use '*' for one token and
// a final '>' for the rest; with none it binds Name and Name.>). Each stored
// message takes the next sequence. Retention decides when messages go:
// limits (MaxMsgs, MaxBytes, MaxAge, MaxMsgsPerSubject, with DiscardOld or
// DiscardNew), interest (once every interested consumer acked) or work queue
// (each message to one consumer, removed on ack).
//
// Publishing: Publish waits for the ack; PublishAsync pipelines messages over
// one stream call and returns futures (PublishAsyncComplete waits for them
// all); PublishBatch stores many messages in one round trip. WithMsgID makes
// a publish deduplicated inside the stream's DuplicateWindow and safe to
// retry.
//
// Consuming: a consumer's position and pending acks live on the server.
// Consumer.Messages (or All) is push delivery, rebinding by itself after
// drops and server restarts; Consumer.Fetch pulls a batch. Every delivered
// Msg is settled with Ack, Nak, NakWithDelay, InProgress or Term; one left
// unsettled is delivered again after AckWait (or the Backoff step), up to
// MaxDeliver attempts.
//
// # Acks: Ack and AckSync
//
// Msg.Ack is nats.go's Msg.Ack: it hands the ack to the connection and
// returns at once. Acks of one consumer queue on the connection and travel
// together: a lone ack is sent at once, and the acks made while that
// request is in flight go as the next one (one round trip and one
// replicated write for all of them), so a consume loop is not held to one
// round trip per message. At most MaxAckQueue acks are pending per
// connection; beyond that Ack waits for room (until its ctx ends).
// Closing the connection sends the queued acks first (waiting a few
// seconds at most); Client.FlushAcks waits for them without closing. An
// ack that never reaches the server (it was down, the client closed
// first, the consumer was deleted) is logged as a warning on the Conn's
// logger and counted by Client.AckFailures, and its message, still
// pending, is delivered again after AckWait: at-least-once holds, nothing
// is lost, but a message can come twice.
//
// Msg.AckSync is nats.go's Msg.DoubleAck: it returns once the server has
// committed the ack (replicated, and fsynced on a data dir), and returns
// the server's answer for that message. After it returns nil the message
// is not delivered again, across restarts and failovers. It travels in the
// same per-consumer queue as Ack: a lone AckSync is sent at once from the
// caller's goroutine; while a request of the consumer is in flight, the
// AckSyncs (and Acks) made meanwhile go together in the next one, each
// AckSync waiting for its own item's result, so concurrent AckSyncs on one
// consumer share round trips and commits. An error (ctx ended, the
// connection closed or failed) leaves the outcome unknown; a refusal (the
// consumer was deleted, not_owner for a superseded delivery) is that
// message's own. Use it when processing a message twice is costly;
// Consumer.Ack(ctx, msgs...) confirms many at once. Nak, NakWithDelay,
// InProgress and Term also wait for the server's answer. A Msg that Ack
// handed over refuses any further settlement (Kind invalid).
//
// # Fenced writes
//
// Publish, PublishAsync and PublishBatch take stream.WithFence(l.Fence()),
// the fence of a held lock (transport.Fence): the server stores the
// message (or the whole batch) only if, at its place in the log, that lock
// is held exclusively with that token by a live lease. Otherwise nothing
// is stored and the publish fails with ErrFenced (result code "fenced",
// the message giving the current token).
//
// It can be used alone, without the root package:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"})
//	c := stream.New(conn)
//
// # Runnable examples
//
// This package's Examples compile but do not run: they dial a server at
// localhost:8818. ExampleClient_GetOrCreateStream and ExampleConsumer_Fetch
// in server/e2e/stream_example_test.go (the server module) start a server in
// their own process and check their output. Run them with:
//
//	cd server && go test -run Example ./e2e/
package stream

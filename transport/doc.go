// Package transport is the one connection layer every waymaker subsystem
// client shares: dialing one or several servers, per-call deadlines, retries
// with backoff for idempotent calls, leader routing, the stream-rebinding
// loop, and the mapping of every failure to *Error.
//
// A subsystem builds its generated gRPC client on a *Conn (Conn implements
// grpc.ClientConnInterface), runs unary calls through Call, and keeps server
// streams alive with Follow. No subsystem writes its own retry loop.
//
// Standalone use of one subsystem:
//
//	conn, err := transport.Dial(ctx, []string{"localhost:8818"}, transport.WithLogger(log))
//	if err != nil { ... }
//	defer conn.Close()
//	locks := lock.New(conn)
//
// # Retries and request ids
//
// One rule, which every subsystem follows:
//
//   - A read is retried freely: after Unavailable, a lost connection, a
//     server restart or not_leader, until the call's deadline (or, without
//     one, Backoff.MaxElapsed).
//   - A mutation carries a request id made once per call by NewRequestID
//     and sent unchanged on every attempt. The server remembers the answer
//     it gave to each id (for its request-id window, 2 minutes by default)
//     and answers a retry with that first answer, so a retried mutation is
//     never applied twice and never answers differently: a Put keeps its
//     revision, an HSET its "added" count, a Push its "not duplicate". So a
//     mutation with a request id is retried like a read (Idempotent), and
//     the retry is invisible to the caller.
//   - A call without a request id that could apply twice is sent with Once:
//     retried only after not_leader, which guarantees nothing was applied.
//
// Lock calls differ in shape only: their request_id names the lease owner
// across acquire, renew and release, and the lock state machine answers a
// repeated request_id with the same lease. The proto marks every rpc with
// its idempotency_level (NO_SIDE_EFFECTS for reads, IDEMPOTENT for
// mutations with a request_id), and the server's tests check both sides.
//
// # Sessions
//
// Against a server that offers the session service, a Conn carries the
// unary calls of the waymaker.v1 services as envelopes on a few long-lived
// streams per server connection (2, up to 4 with more addresses), which
// costs a request and a reply on an open stream instead of a new HTTP/2
// stream per call. Everything above stays as it is: the call is still a
// unary call to Call, its retries, the error mapping and a caller's
// interceptors (the session path is the innermost interceptor). A call in
// flight on a stream that breaks fails Unavailable with an unknown
// outcome, as a unary call on a broken connection does, so the rules above
// apply unchanged. A call goes unary when the server offers no sessions,
// no stream is open yet or every one has its window of calls in flight,
// its request is larger than the server's envelope bound (64 KiB), or it
// carries call options an envelope cannot honour. WithSessions(false)
// turns the path off.
//
// Per-RPC credentials are read when a session stream opens, and every call
// it carries is checked by the server under that stream's credentials and
// its own method. A gRPC stats handler (OpenTelemetry's otelgrpc) sees
// RPCs, so on the session path it sees the long-lived session streams, not
// each call: for a span per call, turn sessions off (examples/otel does).
//
// # Reconnecting
//
// While a server is down, a Conn tries to connect again 0.1 s after a
// failed attempt, growing by 1.6 to at most 0.5 s (±20% jitter), whatever
// the outage's length; one attempt (TCP and TLS handshake) may take up to
// 2 s. So once a server that was stopped or restarted listens again, a
// long-lived Conn is connected within 0.6 s plus a handshake, and within
// 1 s in all: an idempotent call that was waiting to retry goes on as soon
// as the connection is ready, not at its next backoff step. Through a
// partition that drops packets, add up to the 2 s of an attempt in flight.
// grpc.WithConnectParams given to WithDialOptions replaces this schedule.
// A server that accepts connections while it still replays its log
// answers Unavailable; a call then retries at its backoff's pace (at most
// Backoff.Max apart, 2 s by default).
//
// An idempotent call whose context has a deadline retries until that
// deadline (Backoff.MaxElapsed bounds only calls without one), so a call
// given 30 s rides out a 20 s outage and succeeds once the server is back;
// one that runs out of time says what its last attempt met. Calls fail fast
// while no server is reachable (no grpc.WaitForReady): a Once call is not
// sent, and the retry loop, not gRPC, decides how long an idempotent call
// waits. A TLS handshake the server refuses or whose certificate the client
// does not trust is not retried: the call fails at once with an error that
// names the handshake failure and wraps it, so errors.As finds the
// *tls.CertificateVerificationError. Its message says what the problem is:
// an expired certificate, an unknown authority, a name mismatch, a server
// that requires a client certificate or refused this one, a server that
// does not speak TLS; its code stays Unavailable (errors.Is(err,
// ErrUnavailable) holds).
//
// # Iterators
//
// Every SDK iterator over a server stream (kv.Watcher, kv.KeyLister,
// stream.Messages, objstore.Lister, objstore.Watcher) is a Pump: a
// goroutine owned by the Conn follows the stream, rebinding it from its
// resume point after a drop, and buffers values for Next (objstore.Reader
// reads its chunks from one too, and ends as an io.Reader does). They all
// end the same way, as a gRPC stream's Recv does:
//
//   - Next blocks until the next value and returns it with a nil error. A
//     value is never its type's zero value (a *Msg is not nil, an Event has
//     one field set, a key is not empty, an ObjectInfo has a Name).
//   - Once the iterator has ended, Next returns the zero value and a
//     non-nil error saying why, on every call: io.EOF when it ended
//     normally (a listing delivered its last value, or Stop was called);
//     the context's error (errors.Is(err, context.Canceled) or
//     context.DeadlineExceeded) when the context it was opened with ended;
//     ErrClosed when the Conn was closed; ErrNotFound when the resource
//     was deleted; ErrCompacted when a watcher fell further behind than
//     the server keeps; or another permanent failure. Values buffered
//     before the end come first, so a loop reads everything the stream
//     delivered.
//   - Stop ends the iterator and returns once its goroutine has exited,
//     releasing the stream; values buffered and not yet returned are
//     dropped. Stop is safe to call more than once, from any goroutine, and
//     after the iterator ended by itself: defer it.
//   - All ranges over the values; breaking out of the loop stops the
//     iterator. An error that ended it, other than io.EOF, is yielded once,
//     last, with the zero value.
//
// So a loop that stops at the first error, or at the first zero value, or
// at either (the published README's loops), ends; none spins:
//
//	for {
//		ev, err := w.Next()
//		if err != nil { // ev is the zero Event here
//			if errors.Is(err, io.EOF) { break } // it ended normally
//			return err
//		}
//		...
//	}
//
// # Message size
//
// A Conn sends and accepts messages of up to MaxMessageSize (16 MiB), the
// reference server's default Limits.MaxMessageSize; WithMaxMessageSize
// matches a server configured otherwise. A unary request that encodes
// larger fails before it is sent, with a KindInvalid error naming the
// limit. ResourceExhausted (a message over a limit) is never retried.
//
// # Runnable examples
//
// The subsystem packages' Examples dial a server at localhost:8818 and only
// compile. The Examples in the server module's server/e2e directory run the
// whole path against a server they start themselves (cd server && go test
// -run Example ./e2e/); server/e2e/reconnect_test.go and retry_test.go hold
// the rule above to account through server restarts and lost replies.
package transport

package waymaker

import "git.awesomike.com/pub/waymaker-client/go/transport"

// Error is the SDK's one error type: Kind ("rpc", "server", "invalid"),
// Code, Message and the wrapped cause. Find it with errors.As; match its
// code with [IsServerCode] or errors.Is against the sentinels below.
type Error = transport.Error

// Error kinds: where a call failed.
const (
	// KindRPC is a gRPC transport or status failure; Code is the gRPC
	// code's name ("Unavailable", "Unimplemented", "Canceled", ...).
	KindRPC = transport.KindRPC
	// KindServer is a request the server refused; Code is its result code
	// ("expired", "not_found", ...).
	KindServer = transport.KindServer
	// KindInvalid is an argument refused before anything was sent; Message
	// names the field and the rule, and Code is "invalid_argument".
	KindInvalid = transport.KindInvalid
)

// IsServerCode reports whether err is a server error with result code code,
// e.g. IsServerCode(err, "expired") for a contended try-lock.
func IsServerCode(err error, code string) bool { return transport.IsServerCode(err, code) }

// Sentinels for errors.Is. They match by code, never by message text, so an
// error that came back from the server matches its sentinel.
var (
	// ErrExpired: the wait budget ran out before the operation could
	// complete, e.g. a contended lock with MaxWait 0, or a pop or fetch
	// that found nothing in time.
	ErrExpired = transport.ErrExpired
	// ErrNotFound: the named bucket, stream, consumer, store, key, object
	// or message does not exist.
	ErrNotFound = transport.ErrNotFound
	// ErrExists: the thing to create already exists, with another
	// configuration (or, for a KV create, as a live key).
	ErrExists = transport.ErrExists
	// ErrWrongRevision: a compare-and-set precondition on a revision failed;
	// someone else wrote first.
	ErrWrongRevision = transport.ErrWrongRevision
	// ErrWrongSequence: a publish's expected-last-sequence precondition
	// failed.
	ErrWrongSequence = transport.ErrWrongSequence
	// ErrNotOwner: the caller does not hold the lock, lease or receipt it
	// names (it was revoked, or released elsewhere).
	ErrNotOwner = transport.ErrNotOwner
	// ErrLeaseExpired: the named lease has expired; it can be neither
	// renewed nor released.
	ErrLeaseExpired = transport.ErrLeaseExpired
	// ErrLimitExceeded: a configured server limit (bytes, entries, pending
	// acks, message size) refused the operation.
	ErrLimitExceeded = transport.ErrLimitExceeded
	// ErrConflict: the request contradicts existing state, e.g. overlapping
	// stream subjects or a sketch of another shape under the same name.
	ErrConflict = transport.ErrConflict
	// ErrNoSubject: no stream binds the subject a message was published to.
	ErrNoSubject = transport.ErrNoSubject
	// ErrNotLeader: the node answering is not the raft leader; the Error's
	// LeaderHint names the leader when known. Calls retry there on their own.
	ErrNotLeader = transport.ErrNotLeader
	// ErrInvalidArgument: an argument failed validation, on the client
	// (nothing was sent) or on the server (nothing was changed); the
	// message names the field and the rule.
	ErrInvalidArgument = transport.ErrInvalidArgument
	// ErrDigestMismatch: an object's content does not match the SHA-256
	// digest given for it (on Put, nothing was stored).
	ErrDigestMismatch = transport.ErrDigestMismatch
	// ErrLockLost: the client itself gave a lock up, because it could not
	// confirm the lease before the lease's expiry. It wraps inside a
	// "lease_expired" error, so errors.Is matches both.
	ErrLockLost = transport.ErrLockLost
	// ErrUnimplemented: the server does not implement the call (an older
	// or partial server).
	ErrUnimplemented = transport.ErrUnimplemented
	// ErrUnauthenticated: the server enforces authentication and the call
	// carried no valid credentials (no token, a wrong one, or no client
	// certificate). Connect with WithToken or a client certificate.
	ErrUnauthenticated = transport.ErrUnauthenticated
	// ErrPermissionDenied: the caller's roles do not grant the action on
	// the resource; the message names the subsystem, the resource and the
	// action, e.g. "needs kv:orders:write".
	ErrPermissionDenied = transport.ErrPermissionDenied
	// ErrUnavailable: the server could not be reached (gRPC Unavailable),
	// and the call could not or might not be retried further.
	ErrUnavailable = transport.ErrUnavailable
	// ErrClosed: the Client was closed before or during the call.
	ErrClosed = transport.ErrClosed
	// ErrCompacted: a watch or consumer fell further behind than the
	// server keeps for it (or resumed from before that); it ended there
	// rather than skip anything.
	ErrCompacted = transport.ErrCompacted
	// ErrFenced: a write carrying a lock's fence was refused because the
	// lock is no longer held with that token (a stale holder: paused past
	// its lease, or the lock was taken over); nothing was written.
	ErrFenced = transport.ErrFenced
)

package waymaker

import "git.awesomike.com/pub/waymaker-client/go/transport"

// Error is the SDK's one error type: Kind ("rpc", "server", "invalid"),
// Code, Message and the wrapped cause.
type Error = transport.Error

// Error kinds.
const (
	KindRPC     = transport.KindRPC
	KindServer  = transport.KindServer
	KindInvalid = transport.KindInvalid
)

// IsServerCode reports whether err is a server error with result code code,
// e.g. IsServerCode(err, "expired") for a contended try-lock.
func IsServerCode(err error, code string) bool { return transport.IsServerCode(err, code) }

// Sentinels for errors.Is; they match by code.
var (
	ErrExpired         = transport.ErrExpired
	ErrNotFound        = transport.ErrNotFound
	ErrExists          = transport.ErrExists
	ErrWrongRevision   = transport.ErrWrongRevision
	ErrWrongSequence   = transport.ErrWrongSequence
	ErrNotOwner        = transport.ErrNotOwner
	ErrLeaseExpired    = transport.ErrLeaseExpired
	ErrLimitExceeded   = transport.ErrLimitExceeded
	ErrConflict        = transport.ErrConflict
	ErrNoSubject       = transport.ErrNoSubject
	ErrNotLeader       = transport.ErrNotLeader
	ErrInvalidArgument = transport.ErrInvalidArgument
	ErrDigestMismatch  = transport.ErrDigestMismatch
	ErrLockLost        = transport.ErrLockLost
	ErrUnimplemented   = transport.ErrUnimplemented
	ErrUnavailable     = transport.ErrUnavailable
	ErrClosed          = transport.ErrClosed
	// ErrCompacted: a watch or consumer fell further behind than the
	// server keeps for it (or resumed from before that); it ended there
	// rather than skip anything.
	ErrCompacted = transport.ErrCompacted
)

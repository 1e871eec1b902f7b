package api

import (
	"context"
	"errors"
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
)

// Result codes, as listed with their meaning in proto/waymaker/v1/common.proto.
// Clients match on them, so they are API: never change one.
const (
	CodeExpired         = "expired"
	CodeNotFound        = "not_found"
	CodeExists          = "exists"
	CodeWrongRevision   = "wrong_revision"
	CodeWrongSequence   = "wrong_sequence"
	CodeNotOwner        = "not_owner"
	CodeLeaseExpired    = "lease_expired"
	CodeInvalidArgument = "invalid_argument"
	CodeLimitExceeded   = "limit_exceeded"
	CodeConflict        = "conflict"
	CodeNoSubject       = "no_subject"
	CodeDigestMismatch  = "digest_mismatch"
	CodeCompacted       = "compacted"
	CodeNotLeader       = "not_leader"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
)

// OK is the Result of a successful operation.
func OK() *commonpb.Result { return &commonpb.Result{Success: true} }

// Fail is a failed Result with one of the Code constants and a message.
func Fail(code, msg string) *commonpb.Result {
	return &commonpb.Result{ResultCode: code, Message: msg}
}

// Failf is Fail with a formatted message.
func Failf(code, format string, args ...any) *commonpb.Result {
	return Fail(code, fmt.Sprintf(format, args...))
}

// Invalid is the invalid_argument Result for a request field that broke a
// rule; the message names both, e.g. Invalid("key", "must not be empty")
// reads "key: must not be empty".
func Invalid(field, rule string) *commonpb.Result {
	return Fail(CodeInvalidArgument, field+": "+rule)
}

// FromError maps an error from Propose (or anything a handler could not
// complete) to a Result:
//   - not the leader: not_leader, with leader_hint set when the leader is known;
//   - stopping, starting, or an outcome lost with leadership: unavailable
//     (safe to retry: mutations carry client-made ids for deduplication);
//   - a request id used before for another request: invalid_argument;
//   - the request's context ended: unavailable (the client has gone or given up);
//   - anything else, including an error returned by a subsystem's Apply: internal.
//
// A nil error maps to OK.
func FromError(err error) *commonpb.Result {
	var nl *raftnode.NotLeaderError
	switch {
	case err == nil:
		return OK()
	case errors.As(err, &nl):
		r := Fail(CodeNotLeader, nl.Error())
		r.LeaderHint = nl.LeaderAddr
		return r
	case errors.Is(err, raftnode.ErrShuttingDown), errors.Is(err, raftnode.ErrUnavailable), errors.Is(err, raftnode.ErrNotStarted):
		return Fail(CodeUnavailable, err.Error())
	case errors.Is(err, raftnode.ErrInvalid):
		return Fail(CodeInvalidArgument, err.Error())
	case errors.Is(err, raftnode.ErrUnknownMember):
		return Fail(CodeNotFound, err.Error())
	case errors.Is(err, fsm.ErrRequestIDReused):
		return Fail(CodeInvalidArgument, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Fail(CodeUnavailable, "request ended before the outcome was known: "+err.Error())
	default:
		return Fail(CodeInternal, err.Error())
	}
}

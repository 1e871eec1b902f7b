// Package result holds the result codes and the constructors of the
// commonpb.Result that every response carries. State machines and gRPC
// handlers both answer with them, so this package imports nothing of the
// server: a state machine never depends on the handlers in front of it.
package result

import (
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
)

// Result codes, as listed with their meaning in proto/waymaker/v1/common.proto
// (result_test.go checks that the lists agree, and agree with the SDK's).
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
	CodeFenced          = "fenced"
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

// Invalidf is Invalid with a formatted rule.
func Invalidf(field, format string, args ...any) *commonpb.Result {
	return Invalid(field, fmt.Sprintf(format, args...))
}

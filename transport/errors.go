package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
)

// Error kinds.
const (
	// KindRPC is a gRPC transport or status failure; Code is the gRPC
	// code's name ("Unavailable", "Unimplemented", "Canceled", ...).
	KindRPC = "rpc"
	// KindServer is a response with success=false; Code is its result_code.
	KindServer = "server"
	// KindInvalid is an argument that failed client-side validation; nothing
	// was sent. Code is "invalid_argument".
	KindInvalid = "invalid"
)

// Result codes the server answers with (see proto/waymaker/v1/common.proto).
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
	// CodeLockLost is set by the lock client when it gives up a lock.
	CodeLockLost = "lock_lost"
	// CodeClosed is set when the Conn was closed before or during the call.
	CodeClosed = "closed"
)

// Error is the one error type of the SDK. Match it with errors.As, its
// codes with IsServerCode or errors.Is against the sentinels below.
type Error struct {
	// Kind is KindRPC, KindServer or KindInvalid.
	Kind string
	// Code is the gRPC code name (KindRPC) or the server's result code.
	Code string
	// Message is human-readable detail; for invalid arguments it names the field.
	Message string
	// Err is the underlying cause, if any (a gRPC status error, ctx.Err()).
	Err error
	// LeaderHint is the leader's client address, when the server named
	// one: with Code "not_leader", and with an unavailable answer from a
	// node that knows a leader it could not reach in time.
	LeaderHint string
}

func (e *Error) Error() string {
	msg := "waymaker: " + e.Kind + " error"
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the cause, so errors.Is(err, context.Canceled) holds for a
// cancelled call.
func (e *Error) Unwrap() error { return e.Err }

// Is matches by code, not text: a target *Error with the same Code matches,
// and its Kind must match too unless the target's Kind is empty.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Code == "" {
		return false
	}
	return t.Code == e.Code && (t.Kind == "" || t.Kind == e.Kind)
}

// Sentinels for errors.Is. Codes that can come from the client side as well
// as the server (invalid_argument, digest_mismatch, lock_lost) match either.
var (
	ErrExpired       = &Error{Kind: KindServer, Code: CodeExpired}
	ErrNotFound      = &Error{Kind: KindServer, Code: CodeNotFound}
	ErrExists        = &Error{Kind: KindServer, Code: CodeExists}
	ErrWrongRevision = &Error{Kind: KindServer, Code: CodeWrongRevision}
	ErrWrongSequence = &Error{Kind: KindServer, Code: CodeWrongSequence}
	ErrNotOwner      = &Error{Kind: KindServer, Code: CodeNotOwner}
	ErrLeaseExpired  = &Error{Kind: KindServer, Code: CodeLeaseExpired}
	ErrLimitExceeded = &Error{Kind: KindServer, Code: CodeLimitExceeded}
	ErrConflict      = &Error{Kind: KindServer, Code: CodeConflict}
	ErrNoSubject     = &Error{Kind: KindServer, Code: CodeNoSubject}
	// ErrCompacted: a watch or consumer fell further behind than the server
	// keeps; the error's message names the oldest revision it can serve.
	ErrCompacted = &Error{Kind: KindServer, Code: CodeCompacted}
	// ErrFenced: a fenced write's lock is no longer held with its token
	// (released, expired, or granted to someone else since); nothing was
	// written. The message names the current token.
	ErrFenced          = &Error{Kind: KindServer, Code: CodeFenced}
	ErrNotLeader       = &Error{Kind: KindServer, Code: CodeNotLeader}
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument}
	ErrDigestMismatch  = &Error{Code: CodeDigestMismatch}
	ErrLockLost        = &Error{Code: CodeLockLost}
	ErrUnimplemented   = &Error{Kind: KindRPC, Code: codes.Unimplemented.String()}
	ErrUnavailable     = &Error{Kind: KindRPC, Code: codes.Unavailable.String()}
	ErrClosed          = &Error{Kind: KindRPC, Code: CodeClosed, Message: "connection closed"}
	// ErrUnauthenticated: the server enforces authentication and the call
	// carried no valid credentials (gRPC Unauthenticated). Never retried.
	ErrUnauthenticated = &Error{Kind: KindRPC, Code: codes.Unauthenticated.String()}
	// ErrPermissionDenied: the caller's roles do not grant the action on
	// the resource (gRPC PermissionDenied); the message names the
	// subsystem, the resource and the action. Never retried.
	ErrPermissionDenied = &Error{Kind: KindRPC, Code: codes.PermissionDenied.String()}
)

// IsServerCode reports whether err is a server error (Kind "server") with
// result code code.
func IsServerCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == KindServer && e.Code == code
}

// Invalid returns a KindInvalid error naming the field and the rule it broke.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: CodeInvalidArgument, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// ServerError converts a failed result into a KindServer *Error; it returns
// nil when r reports success. A nil result is a protocol violation and is
// reported as an internal error.
func ServerError(r *commonpb.Result) error {
	if r == nil {
		return &Error{Kind: KindServer, Code: CodeInternal, Message: "response carries no result"}
	}
	if r.GetSuccess() {
		return nil
	}
	return &Error{Kind: KindServer, Code: r.GetResultCode(), Message: r.GetMessage(), LeaderHint: r.GetLeaderHint()}
}

// MapError converts any error from a gRPC call into *Error. ctx is the
// call's context: when it has ended, its error becomes the cause so that
// errors.Is(err, context.Canceled) and context.DeadlineExceeded hold.
func MapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		code := codes.Canceled
		if errors.Is(cerr, context.DeadlineExceeded) {
			code = codes.DeadlineExceeded
		}
		return &Error{Kind: KindRPC, Code: code.String(), Message: cerr.Error(), Err: cerr}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: KindRPC, Code: status.Code(err).String(), Message: err.Error(), Err: err}
	}
	if errors.Is(err, io.EOF) {
		return &Error{Kind: KindRPC, Code: codes.Unavailable.String(), Message: "stream ended unexpectedly", Err: err}
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Kind: KindRPC, Code: codes.Unknown.String(), Message: err.Error(), Err: err}
	}
	if st.Code() == codes.DeadlineExceeded {
		if _, ok := ctx.Deadline(); ok {
			// The call's own deadline, propagated to the server, fired
			// there a moment before here: it is still the context's
			// deadline, so errors.Is(err, context.DeadlineExceeded) holds.
			err = errors.Join(context.DeadlineExceeded, err)
		}
	}
	return explainTLS(&Error{Kind: KindRPC, Code: st.Code().String(), Message: st.Message(), Err: err, LeaderHint: statusHint(st)})
}

// statusHint is the leader's client address a server put in a status's
// Result detail (an Unavailable from a node that knows a leader it cannot
// reach, or whose forwarded stream reached an ex-leader), or "".
func statusHint(st *status.Status) string {
	if st.Code() != codes.Unavailable {
		return ""
	}
	for _, d := range st.Details() {
		if r, ok := d.(*commonpb.Result); ok && r.GetLeaderHint() != "" {
			return r.GetLeaderHint()
		}
	}
	return ""
}

// gaveUp is the error of a call whose context ended (ctxErr, mapped) while
// it waited to try again after last: the context's error, naming the last
// failure and wrapping its cause, so a call that timed out during an outage
// says what kept it from getting through, not only that time ran out.
func gaveUp(ctxErr, last error) error {
	e, ok := ctxErr.(*Error)
	l, lok := last.(*Error)
	if !ok || !lok || e.Kind != KindRPC || (e.Code != codes.DeadlineExceeded.String() && e.Code != codes.Canceled.String()) {
		return ctxErr
	}
	return &Error{Kind: e.Kind, Code: e.Code, Message: e.Message + "; the last attempt failed: " + l.Code + ": " + l.Message, Err: errors.Join(e.Err, l.Err)}
}

// refusedHandshake reports whether err is a TLS handshake that failed on
// its merits (a certificate the client does not trust or that names
// another host, an alert from the server, a peer that does not speak TLS),
// which trying again will not change, unlike a connection dropped mid-way.
func refusedHandshake(err error) bool {
	if err == nil {
		return false
	}
	var (
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		record   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.Is(err, errTLSRefused) || errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &record) ||
		errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// transient reports whether a mapped error may succeed when tried again:
// the server was unreachable, restarting, or not the leader.
// ResourceExhausted is not: it is a message over a size limit, which the
// same message exceeds again. A TLS handshake refusal is not either.
func transient(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Kind {
	case KindRPC:
		if refusedHandshake(e.Err) {
			return false
		}
		switch e.Code {
		case codes.Unavailable.String(), codes.Aborted.String():
			return true
		}
	case KindServer:
		return e.Code == CodeNotLeader || e.Code == CodeUnavailable
	}
	return false
}

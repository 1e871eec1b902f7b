package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
)

func TestSentinelsMatchByCode(t *testing.T) {
	err := fmt.Errorf("get: %w", ServerError(&commonpb.Result{ResultCode: CodeNotFound, Message: `bucket "b" not found`}))
	if !errors.Is(err, ErrNotFound) {
		t.Fatal("a not_found result does not match ErrNotFound")
	}
	if errors.Is(err, ErrExists) {
		t.Fatal("a not_found result matches ErrExists")
	}
	if !IsServerCode(err, "not_found") || IsServerCode(err, "exists") {
		t.Fatal("IsServerCode does not compare the code")
	}
	inv := Invalid("key", "must not be empty")
	if !errors.Is(inv, ErrInvalidArgument) || inv.Kind != KindInvalid {
		t.Fatalf("client-side invalid %#v does not match ErrInvalidArgument", inv)
	}
	if IsServerCode(inv, CodeInvalidArgument) {
		t.Fatal("a client-side validation error reported as a server code")
	}
	srvInv := ServerError(&commonpb.Result{ResultCode: CodeInvalidArgument, Message: "key: too long"})
	if !errors.Is(srvInv, ErrInvalidArgument) {
		t.Fatal("server invalid_argument does not match ErrInvalidArgument")
	}
	if ServerError(&commonpb.Result{Success: true}) != nil {
		t.Fatal("success mapped to an error")
	}
	if !errors.Is(ServerError(nil), &Error{Code: CodeInternal}) {
		t.Fatal("a missing result is not reported as internal")
	}
}

func TestMapError(t *testing.T) {
	ctx := context.Background()
	err := MapError(ctx, status.Error(codes.Unimplemented, "no cache"))
	if !errors.Is(err, ErrUnimplemented) {
		t.Fatalf("%v does not match ErrUnimplemented", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRPC || e.Code != "Unimplemented" || e.Message != "no cache" {
		t.Fatalf("mapped %#v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = MapError(cctx, status.Error(codes.Canceled, "context canceled"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v: a cancelled call does not match context.Canceled", err)
	}
	if MapError(ctx, nil) != nil {
		t.Fatal("nil mapped to an error")
	}
}

func TestDialRejectsBadAddresses(t *testing.T) {
	for _, addrs := range [][]string{nil, {}, {""}, {"localhost:1", "  "}} {
		_, err := Dial(context.Background(), addrs)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindInvalid {
			t.Fatalf("Dial(%q) = %v, want Kind invalid", addrs, err)
		}
	}
}

func TestCheckName(t *testing.T) {
	long := make([]byte, MaxNameLen+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, ok := range []string{"a", "Orders_2026-q1", string(long[:MaxNameLen])} {
		if err := CheckName("name", ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "ü", string(long)} {
		err := CheckName("cfg.Name", bad)
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindInvalid || !strings.HasPrefix(e.Message, "cfg.Name: ") {
			t.Errorf("CheckName(%q) = %v, want Kind invalid naming cfg.Name", bad, err)
		}
	}
}

// A refusal by the server's authentication or permissions maps to its
// sentinel, keeps the server's message (subsystem, resource, action), and
// is never retried: the same credentials fail again.
func TestMapAuthErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		code     codes.Code
		sentinel *Error
		other    *Error
	}{
		{codes.Unauthenticated, ErrUnauthenticated, ErrPermissionDenied},
		{codes.PermissionDenied, ErrPermissionDenied, ErrUnauthenticated},
	} {
		const msg = `waymaker: permission denied: "app" may not write on kv "other"`
		err := MapError(ctx, status.Error(tc.code, msg))
		if !errors.Is(err, tc.sentinel) || errors.Is(err, tc.other) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("%v: matches the wrong sentinels", err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Kind != KindRPC || e.Message != msg {
			t.Fatalf("mapped %#v", err)
		}
		if transient(err) || retryable(Idempotent, err) {
			t.Fatalf("%v is retried", err)
		}
	}
}

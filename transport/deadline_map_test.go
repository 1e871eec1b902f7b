package transport

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A DeadlineExceeded the server answered because the call's propagated
// deadline fired there first still matches context.DeadlineExceeded, as
// it does when the client's own context ends first.
func TestServerSideDeadlineMatchesContextDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	err := MapError(ctx, status.Error(codes.DeadlineExceeded, "context deadline exceeded"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("MapError = %v, want it to match context.DeadlineExceeded", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != codes.DeadlineExceeded.String() {
		t.Fatalf("MapError = %#v, want code DeadlineExceeded", err)
	}
	// Without a deadline of its own the call cannot have run out of it.
	if err := MapError(context.Background(), status.Error(codes.DeadlineExceeded, "x")); errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("MapError without a deadline = %v matches context.DeadlineExceeded", err)
	}
}

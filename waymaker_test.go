package waymaker_test

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConnectIsLazyAndCloseIsIdempotent(t *testing.T) {
	// Nothing listens here; Connect must still succeed and Close must end
	// every goroutine (goleak checks at exit).
	c, err := waymaker.Connect(context.Background(), "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Locks() == nil || c.KeyValue() == nil || c.Streams() == nil || c.Collections() == nil ||
		c.Sketches() == nil || c.Objects() == nil || c.Cache() == nil {
		t.Fatal("an accessor returned nil")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConnectRejectsBadInput(t *testing.T) {
	for _, addrs := range [][]string{nil, {""}, {"a:1", ""}} {
		_, err := waymaker.ConnectMulti(context.Background(), addrs)
		var werr *waymaker.Error
		if !errors.As(err, &werr) || werr.Kind != "invalid" || !errors.Is(err, waymaker.ErrInvalidArgument) {
			t.Fatalf("ConnectMulti(%q) = %v, want an invalid-kind error", addrs, err)
		}
	}
	_, err := waymaker.Connect(context.Background(), "")
	if !errors.Is(err, waymaker.ErrInvalidArgument) {
		t.Fatalf("Connect(\"\") = %v", err)
	}
}

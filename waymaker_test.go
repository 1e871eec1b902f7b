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

// The published README's "Connecting" sample, unchanged.
func seedConnecting(ctx context.Context) error {
	{
		// Single node
		client, err := waymaker.Connect(ctx, "localhost:8818")
		if err != nil {
			return err
		}
		client.Close() // not in the sample, which is a fragment
	}
	// Multiple nodes (round-robin load balancing)
	client, err := waymaker.ConnectMulti(ctx, []string{"node1:8818", "node2:8828", "node3:8838"})
	defer client.Close()
	return err
}

func TestSeedConnectingSample(t *testing.T) {
	if err := seedConnecting(context.Background()); err != nil {
		t.Fatal(err)
	}
}

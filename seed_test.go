package waymaker_test

//lint:file-ignore SA5001 the published README's samples are kept verbatim, including defer-before-check.

import (
	"context"
	"testing"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

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

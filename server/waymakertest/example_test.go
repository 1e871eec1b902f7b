package waymakertest_test

import (
	"context"
	"testing"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// In a test, start a server, connect the SDK to it, and restart it to see
// how your code rides out a server restart. (The body belongs in a test
// function: t is that test's *testing.T.)
func ExampleStart() {
	var t *testing.T // your test's t

	srv := waymakertest.Start(t, waymakertest.WithTempDataDir())
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	// ... use client ...

	srv.Restart() // same address, same data; the client reconnects
}

package waymakertest_test

import (
	"context"
	"testing"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
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

// Test your own permission code: a server with tokens and roles, and a
// client per user. A call the roles do not allow fails with
// waymaker.ErrPermissionDenied.
func ExampleWithAuth() {
	var t *testing.T // your test's t

	srv := waymakertest.Start(t, waymakertest.WithAuth(
		map[string]string{"admin": "admin-token", "app": "app-token"},
		server.AuthBootstrap{
			Roles: map[string][]string{"admin": {"*:*:admin"}, "orders": {"kv:orders-*:write", "stream:events:read"}},
			Users: map[string][]string{"admin": {"admin"}, "app": {"orders"}},
		}))
	ctx := context.Background()
	app, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithPerRPCCredentials(waymakertest.Token("app-token")))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	// ... app may write buckets orders-*, read stream events, nothing else ...
}

package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// A call carried on a session stream is checked exactly as its unary
// method: a reader's Put travels as an envelope and is refused with
// PermissionDenied naming the bucket, its Get is answered, and neither
// reaches the server as a unary RPC.
func TestSessionCallsAreAuthorized(t *testing.T) {
	rc := &rpcCounter{n: map[string]int{}}
	srv := waymakertest.Start(t, waymakertest.WithAuth(authTokens, authBoot), waymakertest.WithConfig(func(c *server.Config) {
		c.GRPCOptions = append(c.GRPCOptions, grpc.StatsHandler(rc))
	}))
	ctx := testCtx(t, 20*time.Second)
	root := connectAs(t, "root", srv.Addr())
	b, err := root.KeyValue().Create(ctx, kv.Config{Name: "orders-eu"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	reader, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithSessions(true),
		waymaker.WithPerRPCCredentials(waymakertest.Token(authTokens["reader"])))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	rb := reader.KeyValue().Bucket("orders-eu")
	// The first calls go unary while the session streams open in the
	// background; wait until 20 Gets in a row travel on sessions (no Get
	// RPC), so every stream of the reader's connection is open.
	for inRow, deadline := 0, time.Now().Add(5*time.Second); inRow < 20; {
		if time.Now().After(deadline) {
			t.Fatal("the reader's calls did not settle on session streams in 5 s")
		}
		before := rc.count("/waymaker.v1.KVService/Get")
		if _, err := rb.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if rc.count("/waymaker.v1.KVService/Get") == before {
			inRow++
		} else {
			inRow = 0
		}
	}
	gets, puts := rc.count("/waymaker.v1.KVService/Get"), rc.count(putMethod)
	if e, err := rb.Get(ctx, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("reader's Get on a session: %+v, %v", e, err)
	}
	_, err = rb.Put(ctx, "k", []byte("w"))
	var we *waymaker.Error
	if !errors.Is(err, waymaker.ErrPermissionDenied) || !errors.As(err, &we) || !containsAll(we.Message, "reader", "orders-eu", "write") {
		t.Fatalf("reader's Put on a session: %v, want PermissionDenied naming reader, orders-eu and write", err)
	}
	if g, p := rc.count("/waymaker.v1.KVService/Get"), rc.count(putMethod); g != gets || p != puts {
		t.Fatalf("the calls went unary (Get RPCs %d -> %d, Put RPCs %d -> %d), not on the session", gets, g, puts, p)
	}
	if e, err := b.Get(ctx, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("after the refused Put: %+v, %v; want the value unchanged", e, err)
	}

	// No credential at all: refused, on whichever path the call takes.
	anon, err := waymaker.Connect(context.Background(), srv.Addr(), waymaker.WithSessions(true))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.KeyValue().Bucket("orders-eu").Get(ctx, "k"); !errors.Is(err, waymaker.ErrUnauthenticated) {
		t.Fatalf("a Get with no credential: %v, want ErrUnauthenticated", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

package e2e

import (
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// The client-streaming and bidi paths are checked like unary calls: a
// pipelined (async) publish, an object upload and an election Observe by
// a caller without the grant are refused naming subsystem, resource and
// action, and the refused publish stores nothing.
func TestAuthStreamingCallsAreChecked(t *testing.T) {
	const rootTok, appTok = "tok-audit-root-0123456789", "tok-audit-app-0123456789"
	boot := server.AuthBootstrap{
		Roles: map[string][]string{
			"admin":  {"*:*:admin"},
			"reader": {"stream:events:read", "objstore:blobs:read", "lock:leader:*:write"},
		},
		Users: map[string][]string{"root": {"admin"}, "app": {"reader"}},
	}
	srv := waymakertest.Start(t, waymakertest.WithAuth(map[string]string{"root": rootTok, "app": appTok}, boot))
	ctx := testCtx(t, 20*time.Second)
	root, app := connectAs(t, rootTok, srv.Addr()), connectAs(t, appTok, srv.Addr())
	if _, err := root.Streams().Create(ctx, stream.Config{Name: "events"}); err != nil {
		t.Fatal(err)
	}
	blobs, err := root.CreateObjectStore(ctx, waymaker.ObjectStoreConfig{Name: "blobs"})
	if err != nil {
		t.Fatal(err)
	}
	appBlobs, err := app.ObjectStore(ctx, "blobs") // read is granted
	if err != nil {
		t.Fatal(err)
	}

	// app may only read events: an async publish is refused.
	fut, err := app.Streams().Stream("events").PublishAsync(ctx, "events.a", []byte("x"))
	if err == nil {
		_, err = fut.Wait(ctx)
	}
	denied(t, err, "stream", "events", "write")
	info, err := root.Streams().Stream("events").Info(ctx)
	if err != nil || info.State.Msgs != 0 {
		t.Fatalf("a refused async publish stored: %+v %v", info.State, err)
	}

	// Read only on the object store: an upload is refused, nothing stored.
	_, err = appBlobs.PutBytes(ctx, "o", []byte("data"))
	denied(t, err, "objstore", "blobs", "write")
	if _, err := blobs.GetInfo(ctx, "o"); err == nil {
		t.Fatal("a refused upload stored the object")
	}

	// Lock keys outside lock:leader:*: an election observe is refused.
	e, err := app.Locks().Election("follower:x", lock.ElectionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := e.Observe(ctx)
	if err == nil {
		_, err = o.Next()
		o.Stop()
	}
	denied(t, err, "lock", "follower:x", "read")
}

package e2e

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/auth"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// The tokens and roles of the auth tests.
var (
	authTokens = map[string]string{
		"root":   "tok-root-0123456789abcdef",
		"app":    "tok-app-0123456789abcdef",
		"reader": "tok-reader-0123456789abcdef",
		"nobody": "tok-nobody-0123456789abcdef",
	}
	authBoot = server.AuthBootstrap{
		Roles: map[string][]string{
			"admin":  {"*:*:admin"},
			"orders": {"kv:orders-*:write", "stream:events:read", "lock:leader:*:write"},
			"reader": {"kv:orders-*:read"},
		},
		Users: map[string][]string{"root": {"admin"}, "app": {"orders"}, "reader": {"reader"}},
	}
)

// connectAs dials addr with user's token (over plaintext loopback).
func connectAs(t testing.TB, user string, addrs ...string) *waymaker.Client {
	t.Helper()
	opts := []waymaker.Option{waymaker.WithBackoff(waymaker.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond})}
	if user != "" {
		tok, ok := authTokens[user]
		if !ok {
			tok = user // a raw token
		}
		opts = append(opts, waymaker.WithPerRPCCredentials(waymakertest.Token(tok)))
	}
	var c *waymaker.Client
	var err error
	if len(addrs) == 1 {
		c, err = waymaker.Connect(context.Background(), addrs[0], opts...)
	} else {
		c, err = waymaker.ConnectMulti(context.Background(), addrs, opts...)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// denied checks that err is a permission refusal naming each of want.
func denied(t testing.TB, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, waymaker.ErrPermissionDenied) {
		t.Fatalf("want ErrPermissionDenied, got %v", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("the refusal %q does not name %q", err, w)
		}
	}
}

func TestAuthTokensAndPermissions(t *testing.T) {
	srv := waymakertest.Start(t, waymakertest.WithAuth(authTokens, authBoot))
	ctx := testCtx(t, 20*time.Second)
	root, app, reader := connectAs(t, "root", srv.Addr()), connectAs(t, "app", srv.Addr()), connectAs(t, "reader", srv.Addr())

	t.Run("unauthenticated", func(t *testing.T) {
		for _, c := range []*waymaker.Client{connectAs(t, "", srv.Addr()), connectAs(t, "not-a-token", srv.Addr())} {
			if _, err := c.KeyValue().Open(ctx, "orders-1"); !errors.Is(err, waymaker.ErrUnauthenticated) {
				t.Fatalf("want ErrUnauthenticated, got %v", err)
			}
		}
		huge := connectAs(t, strings.Repeat("x", 5000), srv.Addr())
		if _, err := huge.KeyValue().Open(ctx, "orders-1"); !errors.Is(err, waymaker.ErrUnauthenticated) || !strings.Contains(err.Error(), "limit") {
			t.Fatalf("a huge token: want ErrUnauthenticated naming the limit, got %v", err)
		}
	})

	// Creating and deleting resources needs admin.
	if _, err := app.KeyValue().Create(ctx, kv.Config{Name: "orders-1"}); err != nil {
		denied(t, err, "kv", "orders-1", "admin")
	} else {
		t.Fatal("app created a bucket without admin")
	}
	for _, n := range []string{"orders-1", "other-1"} {
		if _, err := root.KeyValue().Create(ctx, kv.Config{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	denied(t, app.KeyValue().Delete(ctx, "orders-1"), "kv", "orders-1", "admin")

	// Write within the pattern; not outside it.
	if _, err := app.KeyValue().Bucket("orders-1").Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	_, err := app.KeyValue().Bucket("other-1").Put(ctx, "k", []byte("v1"))
	denied(t, err, "kv", "other-1", "write", "app")
	// Write implies read; read does not imply write.
	if e, err := app.KeyValue().Bucket("orders-1").Get(ctx, "k"); err != nil || string(e.Value) != "v1" {
		t.Fatalf("app get: %v %v", e, err)
	}
	if e, err := reader.KeyValue().Bucket("orders-1").Get(ctx, "k"); err != nil || string(e.Value) != "v1" {
		t.Fatalf("reader get: %v %v", e, err)
	}
	_, err = reader.KeyValue().Bucket("orders-1").Put(ctx, "k", []byte("v2"))
	denied(t, err, "kv", "orders-1", "write")
	_, err = reader.KeyValue().Bucket("other-1").Get(ctx, "k")
	denied(t, err, "kv", "other-1", "read")

	// A list answers only what the caller may read.
	var names []string
	for st, err := range reader.KeyValue().List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, st.Config.Name)
	}
	if !slices.Equal(names, []string{"orders-1"}) {
		t.Fatalf("reader lists %v, want [orders-1]", names)
	}

	// A watch opens only on a readable bucket.
	w, err := reader.KeyValue().Bucket("other-1").WatchAll(ctx)
	if err == nil {
		_, err = w.Next()
		w.Stop()
	}
	denied(t, err, "kv", "other-1", "read")

	// Lock keys with ':' in the pattern.
	l, err := app.Locks().Acquire(ctx, "leader:shard1", waymaker.LockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = app.Locks().Acquire(ctx, "follower:shard1", waymaker.LockConfig{})
	denied(t, err, "lock", "follower:shard1", "write")

	// Streams: admin creates, a reader of the stream may not publish.
	if _, err := root.Streams().Create(ctx, stream.Config{Name: "events"}); err != nil {
		t.Fatal(err)
	}
	_, err = app.Streams().Stream("events").Publish(ctx, "events.a", []byte("x"))
	denied(t, err, "stream", "events", "write")
	if _, err := root.Streams().Stream("events").Publish(ctx, "events.a", []byte("x")); err != nil {
		t.Fatal(err)
	}

	// WhoAmI.
	me, err := app.Auth().WhoAmI(ctx)
	if err != nil || me.Name != "app" || me.Method != "token" || !me.Enforced || !slices.Equal(me.Roles, []string{"orders"}) {
		t.Fatalf("whoami: %+v %v", me, err)
	}
}

func TestAuthBadInputChangesNothing(t *testing.T) {
	srv := waymakertest.Start(t, waymakertest.WithAuth(authTokens, authBoot))
	ctx := testCtx(t, 20*time.Second)
	root := connectAs(t, "root", srv.Addr())
	before, err := root.Auth().ListRoles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role auth.Role
		want string
	}{
		{auth.Role{Name: "r", Grants: []string{"kv:orders-*:delete"}}, "unknown action"},
		{auth.Role{Name: "r", Grants: []string{"kvv:orders:read"}}, "unknown subsystem"},
		{auth.Role{Name: "r", Grants: []string{"kv::read"}}, "empty pattern"},
		{auth.Role{Name: "r", Grants: []string{"kv:orders"}}, "subsystem:pattern:action"},
		{auth.Role{Name: "r"}, "at least one grant"},
		{auth.Role{Name: "bad name", Grants: []string{"kv:*:read"}}, "role.name"},
		{auth.Role{Name: "r", Grants: []string{"kv:" + strings.Repeat("*", 9) + ":read"}}, "limit"},
	} {
		err := root.Auth().PutRole(ctx, tc.role)
		if !errors.Is(err, waymaker.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("PutRole(%+v): want invalid_argument naming %q, got %v", tc.role, tc.want, err)
		}
	}
	if err := root.Auth().SetUserRoles(ctx, "someone", "no-such-role"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("binding an unknown role: want ErrNotFound, got %v", err)
	}
	if err := root.Auth().SetUserRoles(ctx, "@node", "admin"); !errors.Is(err, waymaker.ErrInvalidArgument) {
		t.Fatalf("binding a reserved identity: want ErrInvalidArgument, got %v", err)
	}
	after, err := root.Auth().ListRoles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("roles changed by refused calls: %v -> %v", before, after)
	}
	users, err := root.Auth().ListUsers(ctx)
	if err != nil || len(users) != 3 {
		t.Fatalf("users: %v %v", users, err)
	}
}

// The suite's own servers enforce auth exactly when WAYMAKER_E2E_AUTH is
// set: then a call without the suite's token is refused, so the rest of
// the suite, which passes with it, went through the interceptors.
func TestAuthSuiteMode(t *testing.T) {
	srv, _ := startEmbedded(t)
	ctx := testCtx(t, 10*time.Second)
	var opts []waymaker.Option // no token; the suite's TLS, if on
	if suiteTLS {
		opts = append(opts, waymaker.WithTLSFiles(suiteCA.CAFile, suiteCA.ClientCertFile, suiteCA.ClientKeyFile))
	}
	c, err := waymaker.Connect(ctx, srv.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.KeyValue().Create(ctx, kv.Config{Name: name(t)})
	// Without TLS the caller is nobody; with it, the client certificate's
	// identity, which holds no role.
	refused := errors.Is(err, waymaker.ErrUnauthenticated)
	if suiteTLS {
		refused = errors.Is(err, waymaker.ErrPermissionDenied)
	}
	if suiteAuth != refused {
		t.Fatalf("WAYMAKER_E2E_AUTH=%v WAYMAKER_E2E_TLS=%v, a call without a token: %v", suiteAuth, suiteTLS, err)
	}
}

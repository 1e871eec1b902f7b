package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/auth"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// A server with tokens and a bootstrapped admin; the admin gives a service
// a role, and the service may write its buckets and nothing else.
func Example_auth() {
	dir, _ := os.MkdirTemp("", "waymaker-auth-example")
	defer os.RemoveAll(dir)
	tokens := filepath.Join(dir, "tokens") // what `waymakerd hash-token --user NAME` prints, a line each
	_ = os.WriteFile(tokens, []byte("admin: "+server.HashToken("admin-secret")+"\norders-svc: "+server.HashToken("orders-secret")+"\n"), 0o600)
	srv, err := server.New(server.Config{Auth: server.AuthConfig{
		TokensFile: tokens,
		Bootstrap:  &server.AuthBootstrap{Roles: map[string][]string{"admin": {"*:*:admin"}}, Users: map[string][]string{"admin": {"admin"}}},
	}})
	if err != nil {
		panic(err)
	}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	ctx := context.Background()
	// Over TLS use waymaker.WithToken; waymakertest.Token also sends it on
	// this plaintext loopback port.
	admin, _ := waymaker.Connect(ctx, lis.Addr().String(), waymaker.WithPerRPCCredentials(waymakertest.Token("admin-secret")))
	defer admin.Close()
	if err := admin.Auth().PutRole(ctx, auth.Role{Name: "orders", Grants: []string{"kv:orders-*:write"}}); err != nil {
		panic(err)
	}
	if err := admin.Auth().SetUserRoles(ctx, "orders-svc", "orders"); err != nil {
		panic(err)
	}
	_, _ = admin.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "orders-eu"})
	_, _ = admin.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "billing"})

	svc, _ := waymaker.Connect(ctx, lis.Addr().String(), waymaker.WithPerRPCCredentials(waymakertest.Token("orders-secret")))
	defer svc.Close()
	me, _ := svc.Auth().WhoAmI(ctx)
	fmt.Println(me.Name, me.Method, me.Roles)
	_, err = svc.KeyValue().Bucket("orders-eu").Put(ctx, "o1", []byte("new"))
	fmt.Println("put orders-eu:", err)
	_, err = svc.KeyValue().Bucket("billing").Put(ctx, "b1", []byte("x"))
	fmt.Println("put billing denied:", errors.Is(err, waymaker.ErrPermissionDenied))
	_, err = svc.KeyValue().Create(ctx, waymaker.KVConfig{Name: "orders-us"})
	fmt.Println("create bucket denied:", errors.Is(err, waymaker.ErrPermissionDenied))
	// Output:
	// orders-svc token [orders]
	// put orders-eu: <nil>
	// put billing denied: true
	// create bucket denied: true
}

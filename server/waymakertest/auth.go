package waymakertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/credentials"

	"git.awesomike.com/pub/waymaker-client/go/server"
)

// WithAuth starts the server (or every node of a cluster) with
// authentication and permissions on. tokens maps each user to its bearer
// token, in the clear: they are hashed into a tokens file in a
// t.TempDir(). boot seeds the roles and their bindings, as a bootstrap
// file would, e.g.
//
//	waymakertest.WithAuth(map[string]string{"admin": "s3cret-admin", "app": "s3cret-app"},
//		server.AuthBootstrap{
//			Roles: map[string][]string{"admin": {"*:*:admin"}, "orders": {"kv:orders-*:write"}},
//			Users: map[string][]string{"admin": {"admin"}, "app": {"orders"}},
//		})
//
// A cluster's nodes also get a node token. Connect with Token (plaintext
// loopback) or, over TLS, the SDK's WithToken.
func WithAuth(tokens map[string]string, boot server.AuthBootstrap) Option {
	return func(o *options) {
		o.auth = &authOptions{tokens: maps.Clone(tokens), boot: boot}
	}
}

type authOptions struct {
	tokens map[string]string
	boot   server.AuthBootstrap
}

// configure writes the tokens file and returns the Config change.
func (a *authOptions) configure(t testing.TB, clustered bool) func(*server.Config) {
	var b strings.Builder
	for _, user := range slices.Sorted(maps.Keys(a.tokens)) {
		fmt.Fprintf(&b, "%s: %s\n", user, server.HashToken(a.tokens[user]))
	}
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("waymakertest: WithAuth: %v", err)
	}
	var node string
	if clustered {
		r := make([]byte, 16)
		_, _ = rand.Read(r)
		node = hex.EncodeToString(r)
	}
	boot := a.boot
	return func(c *server.Config) {
		c.Auth.TokensFile = path
		c.Auth.Bootstrap = &boot
		c.Auth.NodeToken = node
	}
}

// Token returns per-call credentials sending "authorization: Bearer
// <token>", also over plaintext, for a test's loopback connection to a
// server started WithAuth (the SDK's WithToken insists on TLS, rightly
// for any other network):
//
//	client, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithPerRPCCredentials(waymakertest.Token("s3cret-app")))
func Token(token string) credentials.PerRPCCredentials { return plainToken(token) }

type plainToken string

func (p plainToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(p)}, nil
}

func (plainToken) RequireTransportSecurity() bool { return false }

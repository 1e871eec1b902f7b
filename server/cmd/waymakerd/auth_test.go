package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

func TestHashToken(t *testing.T) {
	var out bytes.Buffer
	if err := hashToken(nil, strings.NewReader("tok-1\n"), &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != server.HashToken("tok-1") || !strings.HasPrefix(got, "sha256:") || len(got) != 7+64 {
		t.Fatalf("hash-token printed %q", got)
	}
	out.Reset()
	if err := hashToken([]string{"--user", "alice"}, strings.NewReader("tok-1"), &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "alice: "+server.HashToken("tok-1")+"\n" {
		t.Fatalf("hash-token --user printed %q", got)
	}
	for _, tc := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"tok-1"}, "", "from stdin"},
		{nil, "", "no token"},
		{nil, "a b\n", "spaces"},
		{[]string{"--user", "a:b"}, "t\n", "--user"},
		{[]string{"--bogus"}, "t\n", "usage"},
	} {
		err := hashToken(tc.args, strings.NewReader(tc.stdin), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hash-token %q < %q: %v, want %q", tc.args, tc.stdin, err, tc.want)
		}
	}
}

// --auth-tokens and --auth-bootstrap turn auth on: a call without a token
// is Unauthenticated, one with the bootstrapped admin's token is served.
func TestRunWithAuth(t *testing.T) {
	dir := t.TempDir()
	var line bytes.Buffer
	if err := hashToken([]string{"--user", "root"}, strings.NewReader("root-token-abcdef\n"), &line); err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, line.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kc, done := runWithAuth(t, ctx, tokens)
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if _, err := kc.ListBuckets(cctx, &kvpb.KVServiceListBucketsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without a token: %v", err)
	}
	resp, err := kc.ListBuckets(metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer root-token-abcdef"), &kvpb.KVServiceListBucketsRequest{})
	if err != nil || !resp.GetResult().GetSuccess() {
		t.Fatalf("with the admin's token: %v %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// runWithAuth starts run with auth on, until ctx ends: the tokens file
// tokens, and a bootstrap file (written here) that makes the user root an
// admin. It returns, once the server serves, a KV client of it and the
// channel run's result comes on.
func runWithAuth(t *testing.T, ctx context.Context, tokens string) (kvpb.KVServiceClient, <-chan error) {
	t.Helper()
	boot := filepath.Join(t.TempDir(), "boot.json")
	if err := os.WriteFile(boot, []byte(`{"roles": {"admin": ["*:*:admin"]}, "users": {"root": ["admin"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--auth-tokens", tokens, "--auth-bootstrap", boot}, io.Discard, io.Discard, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	waitServing(t, addr)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return kvpb.NewKVServiceClient(conn), done
}

func TestRunRejectsBadAuthFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "tokens")
	if err := os.WriteFile(bad, []byte("root: root-token-in-the-clear\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth-tokens", bad}, "line 1"},
		{[]string{"--auth-tokens", filepath.Join(dir, "none")}, "no such file"},
		{[]string{"--auth-bootstrap", bad}, "BootstrapFile"},
		{[]string{"--auth-node-token-file", filepath.Join(dir, "none")}, "--auth-node-token-file"},
		{[]string{"--auth", "--raft-listen", "127.0.0.1:0"}, "NodeToken"},
	} {
		err := run(context.Background(), append([]string{"--listen", "127.0.0.1:0"}, tc.args...), io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error naming %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "root-token-in-the-clear") {
			t.Errorf("run(%q): the error quotes a token: %v", tc.args, err)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
)

// An edit of the tokens file takes effect without a restart: a token added
// works, a token removed stops working.
func TestRunReloadsTheTokensFile(t *testing.T) {
	dir := t.TempDir()
	line := func(user, tok string) []byte {
		var b bytes.Buffer
		if err := hashToken([]string{"--user", user}, strings.NewReader(tok+"\n"), &b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	tokens := filepath.Join(dir, "tokens")
	replace := func(content []byte) { // write and rename, as the docs ask
		tmp := tokens + ".new"
		if err := os.WriteFile(tmp, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, tokens); err != nil {
			t.Fatal(err)
		}
	}
	replace(line("root", "old-token-abcdef"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kc, done := runWithAuth(t, ctx, tokens)
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	code := func(tok string) codes.Code {
		_, err := kc.ListBuckets(metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer "+tok), &kvpb.KVServiceListBucketsRequest{})
		return status.Code(err)
	}
	// waitFor polls until tok answers want, within cctx.
	waitFor := func(what, tok string, want codes.Code) {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for code(tok) != want {
			select {
			case <-tick.C:
			case <-cctx.Done():
				t.Fatalf("%s: %s still answers %v, want %v", what, tok, code(tok), want)
			}
		}
	}
	if got := code("old-token-abcdef"); got != codes.OK {
		t.Fatalf("the first token: %v", got)
	}
	if got := code("new-token-abcdef"); got != codes.Unauthenticated {
		t.Fatalf("a token not yet in the file: %v", got)
	}
	replace(line("root", "new-token-abcdef"))
	waitFor("after the rotation", "new-token-abcdef", codes.OK)
	if got := code("old-token-abcdef"); got != codes.Unauthenticated {
		t.Fatalf("the removed token after the reload: %v, want Unauthenticated", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// cacheBucket creates a KV bucket named after the test.
func cacheBucket(t *testing.T, c *waymaker.Client) *waymaker.KVBucket {
	t.Helper()
	b, err := c.CreateKV(testCtx(t, 10*time.Second), waymaker.KVConfig{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cachePut(t *testing.T, b *waymaker.KVBucket, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := b.Put(testCtx(t, 10*time.Second), k, []byte("v-"+k)); err != nil {
			t.Fatalf("Put %s: %v", k, err)
		}
	}
}

func cacheGet(t *testing.T, b *waymaker.KVBucket, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := b.Get(testCtx(t, 10*time.Second), k); err != nil {
			t.Fatalf("Get %s: %v", k, err)
		}
	}
}

func cacheKeys(t *testing.T, b *waymaker.KVBucket) []string {
	t.Helper()
	var keys []string
	for k, err := range b.Keys(testCtx(t, 10*time.Second)).All() {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func wantKeys(t *testing.T, b *waymaker.KVBucket, want ...string) {
	t.Helper()
	if got := cacheKeys(t, b); !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

func TestCacheLRUEviction(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	b := cacheBucket(t, c)
	p, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: b.Name(), MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if p.Eviction != waymaker.CacheLRU || p.MaxEntries != 3 {
		t.Fatalf("stored policy %+v", p)
	}
	cachePut(t, b, "a", "b", "c")
	cacheGet(t, b, "a") // a is now more recent than b and c
	cachePut(t, b, "d") // evicts b, the least recently used
	wantKeys(t, b, "a", "c", "d")
	cachePut(t, b, "c") // a write is a use too
	cachePut(t, b, "e") // evicts a
	wantKeys(t, b, "c", "d", "e")
	if _, err := b.Get(ctx, "b"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("evicted key: %v", err)
	}
	st, err := c.CacheStats(ctx, b.Name())
	if err != nil {
		t.Fatal(err)
	}
	if st.Hits != 1 || st.Misses != 1 || st.Evictions != 2 || st.Entries != 3 || st.Bytes != 3*(1+3) || st.Bucket != b.Name() {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheLFUEviction(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	b := cacheBucket(t, c)
	if _, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: b.Name(), MaxEntries: 3, Eviction: waymaker.CacheLFU}); err != nil {
		t.Fatal(err)
	}
	cachePut(t, b, "a", "b", "c")
	cacheGet(t, b, "a", "a", "a", "b", "c", "c") // uses: a 4, b 2, c 3
	cachePut(t, b, "d")                          // d 1: evicts b, the least frequently used
	wantKeys(t, b, "a", "c", "d")
	cachePut(t, b, "e") // d and e both 1 use: the older, d, goes
	wantKeys(t, b, "a", "c", "e")
	if st, err := c.CacheStats(ctx, b.Name()); err != nil || st.Evictions != 2 || st.Hits != 6 {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

func TestCacheMaxBytesAndAttachEvictsAtOnce(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	b := cacheBucket(t, c)
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	cachePut(t, b, keys...) // each key+value is 2+4 = 6 bytes
	// Attaching evicts beyond the bounds at once, oldest writes first.
	if _, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: b.Name(), MaxBytes: 20}); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, b, "k5", "k6", "k7")
	if _, err := b.Put(ctx, "big", make([]byte, 10)); err != nil { // 13 bytes: two go
		t.Fatal(err)
	}
	wantKeys(t, b, "big", "k7")
	st, err := c.CacheStats(ctx, b.Name())
	if err != nil || st.Bytes != 19 || st.Entries != 2 || st.Evictions != 7 {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

func TestCacheDetachKeepsData(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	b := cacheBucket(t, c)
	if _, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: b.Name(), MaxEntries: 2}); err != nil {
		t.Fatal(err)
	}
	cachePut(t, b, "a", "b", "c")
	wantKeys(t, b, "b", "c")
	if err := c.CacheDetachPolicy(ctx, b.Name()); err != nil {
		t.Fatal(err)
	}
	cachePut(t, b, "d", "e", "f")
	wantKeys(t, b, "b", "c", "d", "e", "f")
	if _, err := c.CacheStats(ctx, b.Name()); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("stats after detach: %v", err)
	}
	if err := c.CacheDetachPolicy(ctx, b.Name()); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("second detach: %v", err)
	}
	if _, err := c.Cache().Policy(ctx, b.Name()); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("policy after detach: %v", err)
	}
	// Re-attaching applies the new bounds at once and restarts the counters.
	if _, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: b.Name(), MaxEntries: 4, DefaultTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, b, "c", "d", "e", "f")
	p, err := c.Cache().Policy(ctx, b.Name())
	if err != nil || p.DefaultTTL != time.Hour || p.MaxEntries != 4 {
		t.Fatalf("policy %+v, %v", p, err)
	}
	var buckets []string
	for p, err := range c.Cache().List(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		buckets = append(buckets, p.Bucket)
	}
	if !slices.Contains(buckets, b.Name()) {
		t.Fatalf("Policies = %v", buckets)
	}
	if st, err := c.CacheStats(ctx, b.Name()); err != nil || st.Evictions != 1 || st.Hits != 0 {
		t.Fatalf("stats after re-attach %+v, %v", st, err)
	}
}

func TestCacheDefaultTTL(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	b := cacheBucket(t, c)
	if _, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: b.Name(), MaxEntries: 100, DefaultTTL: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	w, err := b.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	cachePut(t, b, "short")
	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Delete != nil {
			break
		}
	}
	if _, err := b.Get(ctx, "short"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("expired key: %v", err)
	}
	if st, err := c.CacheStats(ctx, b.Name()); err != nil || st.Expirations != 1 || st.Evictions != 0 || st.Entries != 0 {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

func TestCacheSurvivesRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, time.Minute)
	b := cacheBucket(t, c)
	if _, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: b.Name(), MaxEntries: 2}); err != nil {
		t.Fatal(err)
	}
	cachePut(t, b, "a", "b", "c")
	srv.Restart()
	wantKeys(t, b, "b", "c")
	cacheGet(t, b, "b")
	cachePut(t, b, "d") // the rebuilt access order still knows b was used last
	wantKeys(t, b, "b", "d")
	if st, err := c.CacheStats(ctx, b.Name()); err != nil || st.Evictions != 2 {
		t.Fatalf("stats %+v, %v", st, err)
	}
}

func TestCacheBadInput(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, time.Minute)
	b := cacheBucket(t, c)
	_, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: b.Name()})
	if !errors.Is(err, waymaker.ErrInvalidArgument) || !strings.Contains(err.Error(), "MaxEntries") {
		t.Fatalf("policy with no bound: %v", err)
	}
	_, err = c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: name(t) + "-missing", MaxEntries: 1})
	if !errors.Is(err, waymaker.ErrNotFound) || !strings.Contains(err.Error(), "bucket") {
		t.Fatalf("policy on a missing bucket: %v", err)
	}
	// The server checks again, past the SDK.
	rpc := cachepb.NewCacheServiceClient(c.Conn())
	for _, tc := range []struct {
		p     *cachepb.CachePolicy
		code  string
		field string
	}{
		{&cachepb.CachePolicy{Bucket: b.Name()}, "invalid_argument", "policy.max_entries"},
		{&cachepb.CachePolicy{MaxEntries: 1}, "invalid_argument", "policy.bucket"},
		{&cachepb.CachePolicy{Bucket: "a b", MaxEntries: 1}, "invalid_argument", "policy.bucket"},
		{&cachepb.CachePolicy{Bucket: b.Name(), MaxBytes: -1, MaxEntries: 1}, "invalid_argument", "policy.max_bytes"},
		{&cachepb.CachePolicy{Bucket: b.Name(), MaxEntries: 1, DefaultTtlMs: -5}, "invalid_argument", "policy.default_ttl_ms"},
		{&cachepb.CachePolicy{Bucket: b.Name(), MaxEntries: 1, Eviction: 9}, "invalid_argument", "policy.eviction"},
		{&cachepb.CachePolicy{Bucket: "nope" + name(t), MaxEntries: 1}, "not_found", "policy.bucket"},
	} {
		resp, err := rpc.AttachPolicy(ctx, &cachepb.CacheServiceAttachPolicyRequest{Policy: tc.p})
		if err != nil {
			t.Fatal(err)
		}
		if r := resp.GetResult(); r.GetResultCode() != tc.code || !strings.HasPrefix(r.GetMessage(), tc.field+":") {
			t.Fatalf("AttachPolicy(%v) = %v, want %s naming %s", tc.p, r, tc.code, tc.field)
		}
	}
	st, err := rpc.Stats(ctx, &cachepb.CacheServiceStatsRequest{})
	if err != nil || st.GetResult().GetResultCode() != "invalid_argument" || !strings.HasPrefix(st.GetResult().GetMessage(), "bucket:") {
		t.Fatalf("Stats without a bucket = %v, %v", st.GetResult(), err)
	}
	// Nothing was attached by the refused calls.
	if _, err := c.CacheStats(ctx, b.Name()); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("refused policies left one attached: %v", err)
	}
}

func TestCacheUnimplementedWhenDisabled(t *testing.T) {
	_, c := startEmbedded(t, waymakertest.WithConfig(func(cfg *server.Config) { cfg.DisableCache = true }))
	ctx := testCtx(t, time.Minute)
	b := cacheBucket(t, c) // KV still works
	calls := map[string]func() error{
		"CacheAttachPolicy": func() error {
			_, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: b.Name(), MaxEntries: 1})
			return err
		},
		"CacheDetachPolicy": func() error { return c.CacheDetachPolicy(ctx, b.Name()) },
		"CacheStats":        func() error { _, err := c.CacheStats(ctx, b.Name()); return err },
		"Policy":            func() error { _, err := c.Cache().Policy(ctx, b.Name()); return err },
		"Policies": func() error {
			for _, err := range c.Cache().List(ctx) {
				return err
			}
			return nil
		},
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, waymaker.ErrUnimplemented) {
			t.Fatalf("%s with caching off = %v, want ErrUnimplemented", name, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("%s waited out the deadline", name)
		}
	}
	cachePut(t, b, "a", "b")
	wantKeys(t, b, "a", "b")
}

// ExampleClient_CacheAttachPolicy bounds a KV bucket to two keys.
func ExampleClient_CacheAttachPolicy() {
	srv, err := server.New(server.Config{})
	if err != nil {
		panic(err)
	}
	defer srv.Stop()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(lis)
	ctx := context.Background()
	client, err := waymaker.Connect(ctx, lis.Addr().String())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	bucket, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "sessions"})
	if err != nil {
		panic(err)
	}
	if _, err := client.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: "sessions", MaxEntries: 2, Eviction: waymaker.CacheLRU}); err != nil {
		panic(err)
	}
	for _, k := range []string{"alice", "bob", "carol"} {
		if _, err := bucket.Put(ctx, k, []byte("token")); err != nil {
			panic(err)
		}
	}
	_, err = bucket.Get(ctx, "alice")
	fmt.Println("alice evicted:", errors.Is(err, waymaker.ErrNotFound))
	st, err := client.CacheStats(ctx, "sessions")
	if err != nil {
		panic(err)
	}
	fmt.Printf("entries %d, evictions %d, misses %d\n", st.Entries, st.Evictions, st.Misses)
	// Output:
	// alice evicted: true
	// entries 2, evictions 1, misses 1
}

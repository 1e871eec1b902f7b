package server

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	cpb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
)

// page is one answer of a list or scan RPC, reduced to what paging needs.
type page struct {
	res   *commonpb.Result
	items []string
	next  string
}

// Every list RPC's page token, and every scan's cursor, is one the server
// handed out for that listing: a name, garbage, a damaged token or one of
// another listing is refused with invalid_argument naming the field, and
// the tokens the server answers page through everything exactly once.
func TestPageTokensAreValidated(t *testing.T) {
	_, conn := serve(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, st := kvpb.NewKVServiceClient(conn), streampb.NewStreamServiceClient(conn)
	col, sk := cpb.NewCollectionsServiceClient(conn), sketchpb.NewSketchServiceClient(conn)
	ca, obj := cachepb.NewCacheServiceClient(conn), objstorepb.NewObjectStoreServiceClient(conn)

	must := func(what string, r *commonpb.Result, err error) {
		t.Helper()
		if err != nil || !r.GetSuccess() {
			t.Fatalf("%s: %v %v", what, r, err)
		}
	}
	for _, n := range []string{"pta", "ptb"} {
		r1, err := kv.CreateBucket(ctx, &kvpb.KVServiceCreateBucketRequest{Config: &kvpb.KVBucketConfig{Name: n}})
		must("create bucket", r1.GetResult(), err)
		r2, err := st.CreateStream(ctx, &streampb.StreamServiceCreateStreamRequest{Config: &streampb.StreamConfig{Name: n, Subjects: []string{n + ".>"}}})
		must("create stream", r2.GetResult(), err)
		r3, err := st.CreateConsumer(ctx, &streampb.StreamServiceCreateConsumerRequest{Stream: "pta", Config: &streampb.ConsumerConfig{DurableName: n}})
		must("create consumer", r3.GetResult(), err)
		r4, err := col.CreateStore(ctx, &cpb.CollectionsServiceCreateStoreRequest{Config: &cpb.CollectionsStoreConfig{Name: n, Kind: &cpb.CollectionsStoreConfig_Hash{Hash: &cpb.HashStoreConfig{}}}})
		must("create hash store", r4.GetResult(), err)
		r5, err := sk.CreateSketch(ctx, &sketchpb.SketchServiceCreateSketchRequest{Config: &sketchpb.SketchConfig{Name: n, Kind: &sketchpb.SketchConfig_Hll{Hll: &sketchpb.HLLConfig{Precision: 10}}}})
		must("create sketch", r5.GetResult(), err)
		r6, err := ca.AttachPolicy(ctx, &cachepb.CacheServiceAttachPolicyRequest{Policy: &cachepb.CachePolicy{Bucket: n, MaxEntries: 10}})
		must("attach policy", r6.GetResult(), err)
		r7, err := obj.CreateStore(ctx, &objstorepb.ObjectStoreServiceCreateStoreRequest{Config: &objstorepb.ObjectStoreConfig{Name: n}})
		must("create object store", r7.GetResult(), err)
		r8, err := col.HSet(ctx, &cpb.CollectionsServiceHSetRequest{Store: "pta", Key: n, Fields: map[string][]byte{"f": []byte("v")}})
		must("hset", r8.GetResult(), err)
	}
	r11, err := col.HSet(ctx, &cpb.CollectionsServiceHSetRequest{Store: "ptb", Key: "hk", Fields: map[string][]byte{"fa": []byte("v"), "fb": []byte("v")}})
	must("hset", r11.GetResult(), err)
	r9, err := col.CreateStore(ctx, &cpb.CollectionsServiceCreateStoreRequest{Config: &cpb.CollectionsStoreConfig{Name: "pts", Kind: &cpb.CollectionsStoreConfig_Set{Set: &cpb.SetStoreConfig{}}}})
	must("create set store", r9.GetResult(), err)
	r10, err := col.SAdd(ctx, &cpb.CollectionsServiceSAddRequest{Store: "pts", Key: "k", Members: [][]byte{[]byte("ma"), []byte("mb")}})
	must("sadd", r10.GetResult(), err)

	cases := []struct {
		rpc, field string
		list       func(token string) (page, error)
	}{
		{"KV.ListBuckets", "page_token", func(tok string) (page, error) {
			r, err := kv.ListBuckets(ctx, &kvpb.KVServiceListBucketsRequest{PageSize: 1, PageToken: tok})
			var names []string
			for _, b := range r.GetBuckets() {
				names = append(names, b.GetConfig().GetName())
			}
			return page{r.GetResult(), names, r.GetNextPageToken()}, err
		}},
		{"Stream.ListStreams", "page_token", func(tok string) (page, error) {
			r, err := st.ListStreams(ctx, &streampb.StreamServiceListStreamsRequest{PageSize: 1, PageToken: tok})
			var names []string
			for _, s := range r.GetStreams() {
				names = append(names, s.GetConfig().GetName())
			}
			return page{r.GetResult(), names, r.GetNextPageToken()}, err
		}},
		{"Stream.ListConsumers", "page_token", func(tok string) (page, error) {
			r, err := st.ListConsumers(ctx, &streampb.StreamServiceListConsumersRequest{Stream: "pta", PageSize: 1, PageToken: tok})
			var names []string
			for _, c := range r.GetConsumers() {
				names = append(names, c.GetName())
			}
			return page{r.GetResult(), names, r.GetNextPageToken()}, err
		}},
		{"Collections.ListStores", "page_token", func(tok string) (page, error) {
			r, err := col.ListStores(ctx, &cpb.CollectionsServiceListStoresRequest{PageSize: 1, PageToken: tok, Kind: cpb.CollectionsStoreKind_COLLECTIONS_STORE_KIND_HASH})
			var names []string
			for _, s := range r.GetStores() {
				names = append(names, s.GetConfig().GetName())
			}
			return page{r.GetResult(), names, r.GetNextPageToken()}, err
		}},
		{"Sketch.ListSketches", "page_token", func(tok string) (page, error) {
			r, err := sk.ListSketches(ctx, &sketchpb.SketchServiceListSketchesRequest{PageSize: 1, PageToken: tok})
			var names []string
			for _, s := range r.GetSketches() {
				names = append(names, s.GetConfig().GetName())
			}
			return page{r.GetResult(), names, r.GetNextPageToken()}, err
		}},
		{"Cache.ListPolicies", "page_token", func(tok string) (page, error) {
			r, err := ca.ListPolicies(ctx, &cachepb.CacheServiceListPoliciesRequest{PageSize: 1, PageToken: tok})
			var names []string
			for _, p := range r.GetPolicies() {
				names = append(names, p.GetBucket())
			}
			return page{r.GetResult(), names, r.GetNextPageToken()}, err
		}},
		{"ObjectStore.ListStores", "page_token", func(tok string) (page, error) {
			r, err := obj.ListStores(ctx, &objstorepb.ObjectStoreServiceListStoresRequest{PageSize: 1, PageToken: tok})
			var names []string
			for _, s := range r.GetStores() {
				names = append(names, s.GetConfig().GetName())
			}
			return page{r.GetResult(), names, r.GetNextPageToken()}, err
		}},
		{"Collections.ScanKeys", "cursor", func(tok string) (page, error) {
			r, err := col.ScanKeys(ctx, &cpb.CollectionsServiceScanKeysRequest{Store: "pta", Count: 1, Cursor: tok})
			return page{r.GetResult(), r.GetKeys(), r.GetCursor()}, err
		}},
		{"Collections.HScan", "cursor", func(tok string) (page, error) {
			r, err := col.HScan(ctx, &cpb.CollectionsServiceHScanRequest{Store: "ptb", Key: "hk", Count: 1, Cursor: tok})
			var names []string
			for _, f := range r.GetFields() {
				names = append(names, f.GetField())
			}
			return page{r.GetResult(), names, r.GetCursor()}, err
		}},
		{"Collections.SScan", "cursor", func(tok string) (page, error) {
			r, err := col.SScan(ctx, &cpb.CollectionsServiceSScanRequest{Store: "pts", Key: "k", Count: 1, Cursor: tok})
			var names []string
			for _, m := range r.GetMembers() {
				names = append(names, string(m))
			}
			return page{r.GetResult(), names, r.GetCursor()}, err
		}},
	}

	// Each listing's first page, and the token it answered.
	firsts := make([]page, len(cases))
	for i, c := range cases {
		p, err := c.list("")
		if err != nil || !p.res.GetSuccess() || len(p.items) != 1 || p.next == "" {
			t.Fatalf("%s first page: %+v %v", c.rpc, p, err)
		}
		firsts[i] = p
	}
	for i, c := range cases {
		// The token answered pages on to the other item, once.
		p, err := c.list(firsts[i].next)
		if err != nil || !p.res.GetSuccess() || len(p.items) != 1 || p.items[0] == firsts[i].items[0] {
			t.Errorf("%s second page: %+v %v (first had %q)", c.rpc, p, err, firsts[i].items)
		}
	}
	for i, c := range cases {
		good := firsts[i].next
		raw, _ := base64.RawURLEncoding.DecodeString(good)
		raw[len(raw)/2] ^= 0x20
		other := firsts[(i+1)%len(cases)].next
		for what, tok := range map[string]string{
			"the last item in clear":    firsts[i].items[0],
			"garbage":                   "!!not a token",
			"base64 of nothing it made": base64.RawURLEncoding.EncodeToString([]byte("pta")),
			"truncated":                 good[:len(good)-1],
			"damaged":                   base64.RawURLEncoding.EncodeToString(raw),
			"another listing's token":   other,
			"invalid UTF-8":             "\xff\xfe\xfd",
			"over-long":                 strings.Repeat("A", 64<<10),
		} {
			if what == "another listing's token" && c.field == "cursor" && strings.HasPrefix(cases[(i+1)%len(cases)].rpc, "Collections.") && cases[(i+1)%len(cases)].field == "cursor" {
				continue // scan cursors share one scope: they hold an item, whatever the scan
			}
			p, err := c.list(tok)
			if err != nil {
				// Invalid UTF-8 in a proto3 string field is refused by gRPC
				// itself before any handler runs.
				if what == "invalid UTF-8" {
					continue
				}
				t.Errorf("%s with %s: rpc error %v", c.rpc, what, err)
				continue
			}
			if p.res.GetSuccess() || p.res.GetResultCode() != "invalid_argument" || !strings.HasPrefix(p.res.GetMessage(), c.field+":") {
				t.Errorf("%s with %s (%.40q): %v, want invalid_argument naming %s", c.rpc, what, tok, p.res, c.field)
			}
		}
	}
}

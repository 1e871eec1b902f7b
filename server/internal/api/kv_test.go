package api

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Invalid KV requests are answered invalid_argument naming the field, and
// nothing is proposed.
func TestKVValidationProposesNothing(t *testing.T) {
	p := &fakeProposer{}
	s := NewKVService(kv.New(), Deps{Node: p, Limits: DefaultLimits()})
	ctx := context.Background()
	type resulter interface{ GetResult() *commonpb.Result }
	check := func(what string, r resulter, err error, field string) {
		t.Helper()
		res := r.GetResult()
		if err != nil || res.GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(res.GetMessage(), field+": ") {
			t.Errorf("%s: %v %v, want invalid_argument naming %s", what, res, err, field)
		}
		if p.got != nil {
			t.Errorf("%s: proposed a command", what)
			p.got = nil
		}
	}
	long := strings.Repeat("k", 1025)
	for _, k := range []string{"", ".a", "a.", "a..b", "a b", "a*", long} {
		r, err := s.Put(ctx, &kvpb.KVServicePutRequest{Bucket: "b", Key: k})
		check("Put "+k, r, err, "key")
		c, err := s.Create(ctx, &kvpb.KVServiceCreateRequest{Bucket: "b", Key: k})
		check("Create "+k, c, err, "key")
		u, err := s.Update(ctx, &kvpb.KVServiceUpdateRequest{Bucket: "b", Key: k})
		check("Update "+k, u, err, "key")
		d, err := s.Delete(ctx, &kvpb.KVServiceDeleteRequest{Bucket: "b", Key: k})
		check("Delete "+k, d, err, "key")
		pu, err := s.Purge(ctx, &kvpb.KVServicePurgeRequest{Bucket: "b", Key: k})
		check("Purge "+k, pu, err, "key")
		g, err := s.Get(ctx, &kvpb.KVServiceGetRequest{Bucket: "b", Key: k})
		check("Get "+k, g, err, "key")
	}
	for _, b := range []string{"", "a.b", "ä", strings.Repeat("b", 257)} {
		r, err := s.Put(ctx, &kvpb.KVServicePutRequest{Bucket: b, Key: "k"})
		check("Put bucket "+b, r, err, "bucket")
		d, err := s.DeleteBucket(ctx, &kvpb.KVServiceDeleteBucketRequest{Bucket: b})
		check("DeleteBucket "+b, d, err, "bucket")
		g, err := s.GetBucket(ctx, &kvpb.KVServiceGetBucketRequest{Bucket: b})
		check("GetBucket "+b, g, err, "bucket")
	}
	r, err := s.Put(ctx, &kvpb.KVServicePutRequest{Bucket: "b", Key: "k", Value: make([]byte, 1<<20+1)})
	check("oversized value", r, err, "value")
	r, err = s.Put(ctx, &kvpb.KVServicePutRequest{Bucket: "b", Key: "k", RequestId: strings.Repeat("r", 300)})
	check("long request id", r, err, "request_id")
	for field, cfg := range map[string]*kvpb.KVBucketConfig{
		"config.name":           {Name: "a b"},
		"config.history":        {Name: "x", History: kv.MaxHistory + 1},
		"config.ttl_ms":         {Name: "x", TtlMs: -1},
		"config.max_value_size": {Name: "x", MaxValueSize: 1<<20 + 1},
		"config.max_bytes":      {Name: "x", MaxBytes: -1},
		"config.description":    {Name: "x", Description: strings.Repeat("d", 4097)},
	} {
		c, err := s.CreateBucket(ctx, &kvpb.KVServiceCreateBucketRequest{Config: cfg})
		check("CreateBucket "+field, c, err, field)
		u, err := s.UpdateBucket(ctx, &kvpb.KVServiceUpdateBucketRequest{Config: cfg})
		check("UpdateBucket "+field, u, err, field)
	}
	c, err := s.CreateBucket(ctx, &kvpb.KVServiceCreateBucketRequest{})
	check("CreateBucket without config", c, err, "config")
	l, err := s.ListBuckets(ctx, &kvpb.KVServiceListBucketsRequest{PageSize: 1001})
	check("ListBuckets", l, err, "page_size")
}

// The proposed bucket configuration carries its defaults, so replicas
// with other limits apply the same thing.
func TestKVCreateBucketProposesDefaults(t *testing.T) {
	p := &fakeProposer{res: &kvpb.KVServiceCreateBucketResponse{Result: result.OK()}}
	lim := DefaultLimits()
	lim.MaxValueSize = 4096
	s := NewKVService(kv.New(), Deps{Node: p, Limits: lim})
	if _, err := s.CreateBucket(context.Background(), &kvpb.KVServiceCreateBucketRequest{Config: &kvpb.KVBucketConfig{Name: "b"}}); err != nil {
		t.Fatal(err)
	}
	var req kvpb.KVServiceCreateBucketRequest
	if err := proto.Unmarshal(p.got, &req); err != nil {
		t.Fatal(err)
	}
	if c := req.GetConfig(); c.GetHistory() != 1 || c.GetMaxValueSize() != 4096 {
		t.Fatalf("proposed %v, want history 1 and max_value_size 4096", c)
	}
}

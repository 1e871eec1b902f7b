package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ap "git.awesomike.com/pub/waymaker-client/go/genpb/authpb"
	cp "git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	clp "git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	colp "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	kp "git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	lp "git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	op "git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	skp "git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// matrixOp is one call of a subsystem on the resource res.
type matrixOp struct {
	sub, name string
	action    int // 1 read, 2 write, 3 admin
	call      func(ctx context.Context, cc *grpc.ClientConn, res string) error
}

func first[T any](_ T, err error) error { return err }

// streamOpen opens a server or client stream and reads its first answer.
func streamFirst(ctx context.Context, cc *grpc.ClientConn, method string, client bool, msg any) error {
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	bidi := method == "/waymaker.v1.StreamService/PublishStream"
	st, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: !client || bidi, ClientStreams: client}, method)
	if err != nil {
		return err
	}
	if err := st.SendMsg(msg); err != nil {
		return st.RecvMsg(new(sp.StreamServiceConsumeResponse))
	}
	_ = st.CloseSend()
	var out any = new(kp.KVServiceWatchResponse)
	switch method {
	case "/waymaker.v1.StreamService/Consume":
		out = new(sp.StreamServiceConsumeResponse)
	case "/waymaker.v1.ObjectStoreService/Put":
		out = new(op.ObjectStoreServicePutResponse)
	case "/waymaker.v1.StreamService/PublishStream":
		out = new(sp.StreamServicePublishStreamResponse)
	}
	return st.RecvMsg(out)
}

var matrixOps = []matrixOp{
	{"kv", "Get", 1, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(kp.NewKVServiceClient(cc).Get(ctx, &kp.KVServiceGetRequest{Bucket: r, Key: "k"}))
	}},
	{"kv", "Watch", 1, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return streamFirst(ctx, cc, "/waymaker.v1.KVService/Watch", false, &kp.KVServiceWatchRequest{Bucket: r, Pattern: ">"})
	}},
	{"kv", "Put", 2, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(kp.NewKVServiceClient(cc).Put(ctx, &kp.KVServicePutRequest{Bucket: r, Key: "k", Value: []byte("v")}))
	}},
	{"kv", "DeleteBucket", 3, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(kp.NewKVServiceClient(cc).DeleteBucket(ctx, &kp.KVServiceDeleteBucketRequest{Bucket: r + "-gone"}))
	}},
	{"lock", "Inspect", 1, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(lp.NewLockServiceClient(cc).Inspect(ctx, &lp.LockServiceInspectRequest{Key: r}))
	}},
	{"lock", "TryAcquire", 2, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(lp.NewLockServiceClient(cc).TryAcquire(ctx, &lp.LockServiceTryAcquireRequest{Key: r + "-try", RequestId: fmt.Sprint(time.Now().UnixNano()), LeaseTtlMs: 1000}))
	}},
	{"lock", "Revoke", 3, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(lp.NewLockServiceClient(cc).Revoke(ctx, &lp.LockServiceRevokeRequest{Key: r + "-none", RequestId: "rv"}))
	}},
	{"stream", "GetStream", 1, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(sp.NewStreamServiceClient(cc).GetStream(ctx, &sp.StreamServiceGetStreamRequest{Stream: r}))
	}},
	{"stream", "Consume", 1, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return streamFirst(ctx, cc, "/waymaker.v1.StreamService/Consume", false, &sp.StreamServiceConsumeRequest{Stream: r, Consumer: "c"})
	}},
	{"stream", "Publish", 2, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(sp.NewStreamServiceClient(cc).Publish(ctx, &sp.StreamServicePublishRequest{Message: &sp.StreamPublishMessage{Subject: r + ".x", Data: []byte("d")}}))
	}},
	{"stream", "PublishStream", 2, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return streamFirst(ctx, cc, "/waymaker.v1.StreamService/PublishStream", true, &sp.StreamServicePublishStreamRequest{PublishId: 1, Message: &sp.StreamPublishMessage{Subject: r + ".x", Data: []byte("d")}})
	}},
	{"stream", "CreateConsumer", 3, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(sp.NewStreamServiceClient(cc).CreateConsumer(ctx, &sp.StreamServiceCreateConsumerRequest{Stream: r, Config: &sp.ConsumerConfig{DurableName: "c"}}))
	}},
	{"collections", "HGet", 1, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(colp.NewCollectionsServiceClient(cc).HGet(ctx, &colp.CollectionsServiceHGetRequest{Store: r, Key: "k", Field: "f"}))
	}},
	{"collections", "HSet", 2, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(colp.NewCollectionsServiceClient(cc).HSet(ctx, &colp.CollectionsServiceHSetRequest{Store: r, Key: "k", Fields: map[string][]byte{"f": []byte("v")}}))
	}},
	{"collections", "QueuePush", 2, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(colp.NewCollectionsServiceClient(cc).QueuePush(ctx, &colp.CollectionsServiceQueuePushRequest{Queue: r}))
	}},
	{"collections", "DeleteStore", 3, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(colp.NewCollectionsServiceClient(cc).DeleteStore(ctx, &colp.CollectionsServiceDeleteStoreRequest{Store: r + "-gone"}))
	}},
	{"sketch", "BloomExists", 1, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(skp.NewSketchServiceClient(cc).BloomExists(ctx, &skp.SketchServiceBloomExistsRequest{Name: r}))
	}},
	{"sketch", "BloomAdd", 2, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(skp.NewSketchServiceClient(cc).BloomAdd(ctx, &skp.SketchServiceBloomAddRequest{Name: r, Item: []byte("i")}))
	}},
	{"sketch", "DeleteSketch", 3, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(skp.NewSketchServiceClient(cc).DeleteSketch(ctx, &skp.SketchServiceDeleteSketchRequest{Name: r + "-gone"}))
	}},
	{"objstore", "GetInfo", 1, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(op.NewObjectStoreServiceClient(cc).GetInfo(ctx, &op.ObjectStoreServiceGetInfoRequest{Store: r, Name: "o"}))
	}},
	{"objstore", "Put", 2, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return streamFirst(ctx, cc, "/waymaker.v1.ObjectStoreService/Put", true, &op.ObjectStoreServicePutRequest{Part: &op.ObjectStoreServicePutRequest_Header{Header: &op.ObjectPutHeader{Store: r}}})
	}},
	{"objstore", "DeleteStore", 3, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(op.NewObjectStoreServiceClient(cc).DeleteStore(ctx, &op.ObjectStoreServiceDeleteStoreRequest{Store: r + "-gone"}))
	}},
	{"cache", "GetPolicy", 1, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(cp.NewCacheServiceClient(cc).GetPolicy(ctx, &cp.CacheServiceGetPolicyRequest{Bucket: r}))
	}},
	{"cache", "DetachPolicy", 3, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(cp.NewCacheServiceClient(cc).DetachPolicy(ctx, &cp.CacheServiceDetachPolicyRequest{Bucket: r}))
	}},
	{"cluster", "RemoveServer", 3, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(clp.NewClusterServiceClient(cc).RemoveServer(ctx, &clp.ClusterServiceRemoveServerRequest{Id: r}))
	}},
	{"auth", "DeleteRole", 3, func(ctx context.Context, cc *grpc.ClientConn, r string) error {
		return first(ap.NewAuthServiceClient(cc).DeleteRole(ctx, &ap.AuthServiceDeleteRoleRequest{Name: r}))
	}},
}

// Every subsystem's read, write and admin operations against a user of
// each level, inside its pattern (allowed from its level up) and outside
// it (never allowed); a grant of another subsystem allows nothing.
func TestAuthPermissionMatrix(t *testing.T) {
	users := map[string][]string{"u-read": {"read"}, "u-write": {"write"}, "u-admin": {"admin"}, "u-kv": {"kvonly"}, "root": {"root"}}
	tokens := map[string]string{}
	for u := range users {
		tokens[u] = "token-of-" + u + "-0123456789"
	}
	srv := waymakertest.Start(t, waymakertest.WithAuth(tokens, server.AuthBootstrap{
		Roles: map[string][]string{"read": {"*:m-*:read"}, "write": {"*:m-*:write"}, "admin": {"*:m-*:admin"}, "kvonly": {"kv:*:admin"}, "root": {"*:*:admin"}},
		Users: users,
	}))
	ctx := testCtx(t, 60*time.Second)
	conns := map[string]*grpc.ClientConn{}
	for u, tok := range tokens {
		cc, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(waymakertest.Token(tok)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		conns[u] = cc
	}
	// The streams the publishes land in.
	for _, n := range []string{"m-1", "z-1"} {
		if _, err := sp.NewStreamServiceClient(conns["root"]).CreateStream(ctx, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	level := map[string]int{"u-read": 1, "u-write": 2, "u-admin": 3}
	for _, o := range matrixOps {
		for _, u := range []string{"u-read", "u-write", "u-admin", "u-kv"} {
			for _, res := range []string{"m-1", "z-1"} {
				err := o.call(ctx, conns[u], res)
				want := res == "m-1" && level[u] >= o.action || u == "u-kv" && o.sub == "kv"
				got := status.Code(err) != codes.PermissionDenied && status.Code(err) != codes.Unauthenticated
				if got != want {
					t.Errorf("%s %s.%s on %s: allowed=%v (%v), want %v", u, o.sub, o.name, res, got, err, want)
				}
			}
		}
	}
	// Lists answer only what the caller may read.
	for _, n := range []string{"m-2", "z-2"} {
		if _, err := kp.NewKVServiceClient(conns["root"]).CreateBucket(ctx, &kp.KVServiceCreateBucketRequest{Config: &kp.KVBucketConfig{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	lb, err := kp.NewKVServiceClient(conns["u-read"]).ListBuckets(ctx, &kp.KVServiceListBucketsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range lb.GetBuckets() {
		names = append(names, b.GetConfig().GetName())
	}
	if !slices.Equal(names, []string{"m-2"}) {
		t.Fatalf("u-read lists buckets %v, want [m-2]", names)
	}
	ls, err := sp.NewStreamServiceClient(conns["u-read"]).ListStreams(ctx, &sp.StreamServiceListStreamsRequest{})
	if err != nil || len(ls.GetStreams()) != 1 || ls.GetStreams()[0].GetConfig().GetName() != "m-1" {
		t.Fatalf("u-read lists streams %v %v, want [m-1]", ls.GetStreams(), err)
	}
	if _, err := kp.NewKVServiceClient(conns["u-kv"]).ListBuckets(ctx, &kp.KVServiceListBucketsRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.NewStreamServiceClient(conns["u-kv"]).ListStreams(ctx, &sp.StreamServiceListStreamsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("u-kv lists streams: %v, want PermissionDenied", err)
	}
}

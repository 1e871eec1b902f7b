package hostile_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	ap "git.awesomike.com/pub/waymaker-client/go/genpb/authpb"
	cp "git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	clp "git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	colp "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	kp "git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	lp "git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	op "git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	skp "git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
)

// Fixture names: what seed creates, and what the baselines name.
const (
	fxBucket   = "hb"  // KV bucket with key "k"
	fxCacheB   = "hcb" // KV bucket with a cache policy
	fxStream   = "hs"  // stream on "hs.>" with one message
	fxConsumer = "hc"  // durable consumer on fxStream
	fxHash     = "hh"  // hash store, key "k", field "f"
	fxSet      = "hset"
	fxQueue    = "hq"
	fxObjects  = "ho" // object store holding "obj"
)

// fixture holds what seed learnt that a baseline needs.
type fixture struct {
	receipt string // of a popped fxQueue message
	leaseID string // of a lease on "hl-held", request "hl-req"
	// fence is of a lease on "hl-fence" that no baseline touches: every
	// request with a fence field carries it, so fence.* is mutated too.
	fence *commonpb.Fence
}

// seed creates one of every kind of resource, so that a baseline request
// reaches the code behind its validation.
func seed(t *testing.T, ctx context.Context, cc grpc.ClientConnInterface) fixture {
	t.Helper()
	must := func(what string, resp interface{ GetResult() *commonpb.Result }, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed %s: %v", what, err)
		}
		if r := resp.GetResult(); !r.GetSuccess() {
			t.Fatalf("seed %s: %v", what, r)
		}
	}
	kv := kp.NewKVServiceClient(cc)
	for _, b := range []string{fxBucket, fxCacheB} {
		r, err := kv.CreateBucket(ctx, &kp.KVServiceCreateBucketRequest{Config: &kp.KVBucketConfig{Name: b, History: 5}})
		must("bucket", r, err)
	}
	pr, err := kv.Put(ctx, &kp.KVServicePutRequest{Bucket: fxBucket, Key: "k", Value: []byte("v")})
	must("put", pr, err)
	cr, err := cp.NewCacheServiceClient(cc).AttachPolicy(ctx, &cp.CacheServiceAttachPolicyRequest{Policy: &cp.CachePolicy{Bucket: fxCacheB, MaxEntries: 100}})
	must("cache policy", cr, err)

	st := sp.NewStreamServiceClient(cc)
	sr, err := st.CreateStream(ctx, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: fxStream, Subjects: []string{"hs.>"}}})
	must("stream", sr, err)
	pu, err := st.Publish(ctx, &sp.StreamServicePublishRequest{Message: &sp.StreamPublishMessage{Subject: "hs.a", Data: []byte("m")}})
	must("publish", pu, err)
	cc2, err := st.CreateConsumer(ctx, &sp.StreamServiceCreateConsumerRequest{Stream: fxStream, Config: &sp.ConsumerConfig{DurableName: fxConsumer, AckPolicy: sp.ConsumerAckPolicy_CONSUMER_ACK_POLICY_EXPLICIT}})
	must("consumer", cc2, err)

	col := colp.NewCollectionsServiceClient(cc)
	for _, c := range []*colp.CollectionsStoreConfig{
		{Name: fxHash, Kind: &colp.CollectionsStoreConfig_Hash{Hash: &colp.HashStoreConfig{}}},
		{Name: fxSet, Kind: &colp.CollectionsStoreConfig_Set{Set: &colp.SetStoreConfig{}}},
		{Name: fxQueue, Kind: &colp.CollectionsStoreConfig_Queue{Queue: &colp.QueueConfig{}}},
	} {
		r, err := col.CreateStore(ctx, &colp.CollectionsServiceCreateStoreRequest{Config: c})
		must("store", r, err)
	}
	hs, err := col.HSet(ctx, &colp.CollectionsServiceHSetRequest{Store: fxHash, Key: "k", Fields: map[string][]byte{"f": []byte("1")}})
	must("hset", hs, err)
	sa, err := col.SAdd(ctx, &colp.CollectionsServiceSAddRequest{Store: fxSet, Key: "s", Members: [][]byte{[]byte("a"), []byte("b")}})
	must("sadd", sa, err)
	for _, id := range []string{"m1", "m2"} {
		qp, err := col.QueuePush(ctx, &colp.CollectionsServiceQueuePushRequest{Queue: fxQueue, Payload: []byte("p"), Id: id})
		must("push", qp, err)
	}
	pop, err := col.QueuePop(ctx, &colp.CollectionsServiceQueuePopRequest{Queue: fxQueue, VisibilityTimeoutMs: proto.Int64(3_600_000)})
	must("pop", pop, err)

	sk := skp.NewSketchServiceClient(cc)
	for _, c := range []*skp.SketchConfig{
		{Name: "sb", Kind: &skp.SketchConfig_Bloom{Bloom: &skp.BloomConfig{Capacity: 100, ErrorRate: 0.01}}},
		{Name: "sh", Kind: &skp.SketchConfig_Hll{Hll: &skp.HLLConfig{}}},
		{Name: "sc", Kind: &skp.SketchConfig_Cms{Cms: &skp.CMSConfig{Width: 64, Depth: 4}}},
		{Name: "sk", Kind: &skp.SketchConfig_Topk{Topk: &skp.TopKConfig{K: 3}}},
		{Name: "st", Kind: &skp.SketchConfig_Tdigest{Tdigest: &skp.TDigestConfig{}}},
	} {
		r, err := sk.CreateSketch(ctx, &skp.SketchServiceCreateSketchRequest{Config: c})
		must("sketch", r, err)
	}
	ta, err := sk.TDigestAdd(ctx, &skp.SketchServiceTDigestAddRequest{Name: "st", Values: []float64{1, 2, 3}})
	must("tdigest add", ta, err)

	ob := op.NewObjectStoreServiceClient(cc)
	os, err := ob.CreateStore(ctx, &op.ObjectStoreServiceCreateStoreRequest{Config: &op.ObjectStoreConfig{Name: fxObjects}})
	must("object store", os, err)
	put, err := ob.Put(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range objectPut("obj") {
		if err := put.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	ack, err := put.CloseAndRecv()
	must("object put", ack, err)

	lr, err := lp.NewLockServiceClient(cc).TryAcquire(ctx, &lp.LockServiceTryAcquireRequest{Key: "hl-held", RequestId: "hl-req", LeaseTtlMs: 3_600_000})
	must("lock", lr, err)
	fr, err := lp.NewLockServiceClient(cc).TryAcquire(ctx, &lp.LockServiceTryAcquireRequest{Key: "hl-fence", RequestId: "hl-fence-req", LeaseTtlMs: 3_600_000})
	must("fence lock", fr, err)
	fence := &commonpb.Fence{Key: "hl-fence", Token: fr.GetLease().GetGrants()[0].GetFenceToken()}
	return fixture{receipt: pop.GetMessages()[0].GetReceipt(), leaseID: lr.GetLease().GetLeaseId(), fence: fence}
}

func objectPut(name string) []*op.ObjectStoreServicePutRequest {
	return []*op.ObjectStoreServicePutRequest{
		{Part: &op.ObjectStoreServicePutRequest_Header{Header: &op.ObjectPutHeader{Store: fxObjects, Meta: &op.ObjectMeta{Name: name, Description: "d",
			Headers: []*commonpb.Header{{Key: "h", Values: []string{"v"}}}, Metadata: map[string]string{"m": "v"}}}}},
		{Part: &op.ObjectStoreServicePutRequest_Chunk{Chunk: &op.ObjectChunk{Offset: 0, Data: []byte("hello")}}},
		{Part: &op.ObjectStoreServicePutRequest_Commit{Commit: &op.ObjectPutCommit{}}},
	}
}

// baselines answers, per method ("Service/Method"), a valid request (for a
// client stream, the messages of one call, of which the first is mutated).
// A method missing here fails the test: a new RPC cannot be forgotten.
// Destructive calls name resources that do not exist, so that an accepted
// mutation does not take a fixture away from the methods after it.
func baselines(fx fixture) map[string][]proto.Message {
	one := func(m proto.Message) []proto.Message { return []proto.Message{m} }
	b := map[string][]proto.Message{}
	add := func(svc, method string, m ...proto.Message) { b[svc+"/"+method] = m }

	// KV.
	kv := "KVService"
	add(kv, "CreateBucket", &kp.KVServiceCreateBucketRequest{Config: &kp.KVBucketConfig{Name: "nb", History: 2, TtlMs: 60_000, MaxValueSize: 1024, MaxBytes: 1 << 20, Description: "d"}})
	add(kv, "UpdateBucket", &kp.KVServiceUpdateBucketRequest{Config: &kp.KVBucketConfig{Name: fxBucket, History: 5, Description: "d"}})
	add(kv, "GetBucket", &kp.KVServiceGetBucketRequest{Bucket: fxBucket})
	add(kv, "DeleteBucket", &kp.KVServiceDeleteBucketRequest{Bucket: "gone"})
	add(kv, "ListBuckets", &kp.KVServiceListBucketsRequest{PageSize: 10})
	add(kv, "Put", &kp.KVServicePutRequest{Bucket: fxBucket, Key: "k2", Value: []byte("v"), RequestId: "r-put"})
	add(kv, "Get", &kp.KVServiceGetRequest{Bucket: fxBucket, Key: "k", Revision: 1})
	add(kv, "Create", &kp.KVServiceCreateRequest{Bucket: fxBucket, Key: "k3", Value: []byte("v"), RequestId: "r-create"})
	add(kv, "Update", &kp.KVServiceUpdateRequest{Bucket: fxBucket, Key: "k", Value: []byte("v2"), LastRevision: 1, RequestId: "r-update"})
	add(kv, "Delete", &kp.KVServiceDeleteRequest{Bucket: fxBucket, Key: "gone", LastRevision: 0, RequestId: "r-del"})
	add(kv, "Purge", &kp.KVServicePurgeRequest{Bucket: fxBucket, Key: "gone", RequestId: "r-purge"})
	add(kv, "Keys", &kp.KVServiceKeysRequest{Bucket: fxBucket, Pattern: ">", StartAfter: "a", BatchSize: 10})
	add(kv, "History", &kp.KVServiceHistoryRequest{Bucket: fxBucket, Key: "k", AfterRevision: 0})
	add(kv, "Watch", &kp.KVServiceWatchRequest{Bucket: fxBucket, Pattern: ">"})

	// Cluster: the server is a single in-memory node, which refuses every
	// membership change, so the hostile variants must be refused too.
	cl := "ClusterService"
	add(cl, "Status", &clp.ClusterServiceStatusRequest{})
	add(cl, "AddVoter", &clp.ClusterServiceAddVoterRequest{Id: "n2", RaftAddress: "127.0.0.1:1", ClientAddress: "127.0.0.1:2"})
	add(cl, "AddNonvoter", &clp.ClusterServiceAddNonvoterRequest{Id: "n2", RaftAddress: "127.0.0.1:1", ClientAddress: "127.0.0.1:2"})
	add(cl, "RemoveServer", &clp.ClusterServiceRemoveServerRequest{Id: "n2"})
	add(cl, "TransferLeadership", &clp.ClusterServiceTransferLeadershipRequest{Id: "n2"})
	add(cl, "ReadIndex", &clp.ClusterServiceReadIndexRequest{})
	add(cl, "Announce", &clp.ClusterServiceAnnounceRequest{Id: "node1", ClientAddress: "127.0.0.1:8818"})

	// Auth: the server enforces nothing, so every call reaches its handler.
	au := "AuthService"
	add(au, "PutRole", &ap.AuthServicePutRoleRequest{Role: &ap.AuthRole{Name: "hr", Grants: []string{"kv:hb:read", "lock:leader:*:write"}}})
	add(au, "DeleteRole", &ap.AuthServiceDeleteRoleRequest{Name: "gone"})
	add(au, "ListRoles", &ap.AuthServiceListRolesRequest{})
	add(au, "SetUserRoles", &ap.AuthServiceSetUserRolesRequest{Identity: "hu", Roles: []string{"hr"}})
	add(au, "ListUsers", &ap.AuthServiceListUsersRequest{})
	add(au, "WhoAmI", &ap.AuthServiceWhoAmIRequest{})

	// Cache.
	ca := "CacheService"
	add(ca, "AttachPolicy", &cp.CacheServiceAttachPolicyRequest{Policy: &cp.CachePolicy{Bucket: fxCacheB, MaxEntries: 100, MaxBytes: 1 << 20, DefaultTtlMs: 60_000, Eviction: cp.CacheEviction_CACHE_EVICTION_LRU}})
	add(ca, "DetachPolicy", &cp.CacheServiceDetachPolicyRequest{Bucket: "gone"})
	add(ca, "GetPolicy", &cp.CacheServiceGetPolicyRequest{Bucket: fxCacheB})
	add(ca, "ListPolicies", &cp.CacheServiceListPoliciesRequest{PageSize: 10})
	add(ca, "Stats", &cp.CacheServiceStatsRequest{Bucket: fxCacheB})

	// Streams.
	s := "StreamService"
	scfg := func(name string) *sp.StreamConfig {
		return &sp.StreamConfig{Name: name, Description: "d", Subjects: []string{name + ".>"}, MaxMsgs: 100, MaxBytes: 1 << 20,
			MaxAgeMs: 60_000, MaxMsgSize: 1024, MaxMsgsPerSubject: 10, DuplicateWindowMs: 60_000, MaxConsumers: 10}
	}
	ccfg := func(name string) *sp.ConsumerConfig {
		return &sp.ConsumerConfig{DurableName: name, Description: "d", DeliverPolicy: sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_ALL,
			AckPolicy: sp.ConsumerAckPolicy_CONSUMER_ACK_POLICY_EXPLICIT, AckWaitMs: 30_000, MaxDeliver: 5, BackoffMs: []int64{1000},
			FilterSubjects: []string{"hs.>"}, MaxAckPending: 100, InactiveThresholdMs: 60_000}
	}
	pm := func() *sp.StreamPublishMessage {
		return &sp.StreamPublishMessage{Subject: "hs.b", Data: []byte("x"), MsgId: "id-1", ExpectedStream: fxStream,
			Headers: []*commonpb.Header{{Key: "h", Values: []string{"v"}}}}
	}
	add(s, "CreateStream", &sp.StreamServiceCreateStreamRequest{Config: scfg("ns")})
	add(s, "UpdateStream", &sp.StreamServiceUpdateStreamRequest{Config: scfg(fxStream)})
	add(s, "GetStream", &sp.StreamServiceGetStreamRequest{Stream: fxStream})
	add(s, "DeleteStream", &sp.StreamServiceDeleteStreamRequest{Stream: "gone"})
	add(s, "ListStreams", &sp.StreamServiceListStreamsRequest{PageSize: 10, Subject: "hs.a"})
	add(s, "Publish", &sp.StreamServicePublishRequest{Message: pm()})
	add(s, "PublishBatch", &sp.StreamServicePublishBatchRequest{Messages: []*sp.StreamPublishMessage{pm()}})
	add(s, "PublishStream", &sp.StreamServicePublishStreamRequest{PublishId: 1, Message: pm()})
	add(s, "Purge", &sp.StreamServicePurgeRequest{Stream: "gone", Subject: "hs.a", Seq: 0, Keep: 0})
	add(s, "GetMsg", &sp.StreamServiceGetMsgRequest{Stream: fxStream, Seq: 1})
	add(s, "GetLastMsgForSubject", &sp.StreamServiceGetLastMsgForSubjectRequest{Stream: fxStream, Subject: "hs.a"})
	add(s, "DeleteMsg", &sp.StreamServiceDeleteMsgRequest{Stream: fxStream, Seq: 1 << 40})
	add(s, "CreateConsumer", &sp.StreamServiceCreateConsumerRequest{Stream: fxStream, Config: ccfg("nc")})
	add(s, "UpdateConsumer", &sp.StreamServiceUpdateConsumerRequest{Stream: fxStream, Config: ccfg(fxConsumer)})
	add(s, "GetConsumer", &sp.StreamServiceGetConsumerRequest{Stream: fxStream, Consumer: fxConsumer})
	add(s, "DeleteConsumer", &sp.StreamServiceDeleteConsumerRequest{Stream: fxStream, Consumer: "gone"})
	add(s, "ListConsumers", &sp.StreamServiceListConsumersRequest{Stream: fxStream, PageSize: 10})
	add(s, "Consume", &sp.StreamServiceConsumeRequest{Stream: fxStream, Consumer: fxConsumer, IdleHeartbeatMs: 1000})
	add(s, "Fetch", &sp.StreamServiceFetchRequest{Stream: fxStream, Consumer: fxConsumer, Batch: 1, MaxWaitMs: 0, MaxBytes: 1 << 20})
	add(s, "Ack", &sp.StreamServiceAckRequest{Stream: fxStream, Consumer: fxConsumer, Items: []*sp.StreamAckItem{{StreamSeq: 1 << 40, NumDelivered: 1, Kind: sp.StreamAckKind_STREAM_ACK_KIND_NAK, NakDelayMs: 1000, TermReason: "r"}}})

	// Collections.
	c := "CollectionsService"
	add(c, "CreateStore", &colp.CollectionsServiceCreateStoreRequest{Config: &colp.CollectionsStoreConfig{Name: "nq", Description: "d",
		Kind: &colp.CollectionsStoreConfig_Queue{Queue: &colp.QueueConfig{VisibilityTimeoutMs: 30_000, MaxReceiveCount: 3, DeadLetterQueue: fxQueue,
			DelayMs: 10, MaxMessageSize: 1024, RetentionMs: 60_000, DedupeWindowMs: 60_000, MaxMessages: 100}}}})
	b[c+"/CreateStore#hash"] = one(&colp.CollectionsServiceCreateStoreRequest{Config: &colp.CollectionsStoreConfig{Name: "nh",
		Kind: &colp.CollectionsStoreConfig_Hash{Hash: &colp.HashStoreConfig{MaxValueSize: 1024, MaxBytes: 1 << 20}}}})
	b[c+"/CreateStore#set"] = one(&colp.CollectionsServiceCreateStoreRequest{Config: &colp.CollectionsStoreConfig{Name: "ns",
		Kind: &colp.CollectionsStoreConfig_Set{Set: &colp.SetStoreConfig{MaxMemberSize: 1024, MaxBytes: 1 << 20}}}})
	add(c, "GetStore", &colp.CollectionsServiceGetStoreRequest{Store: fxHash, Kind: colp.CollectionsStoreKind_COLLECTIONS_STORE_KIND_HASH})
	add(c, "DeleteStore", &colp.CollectionsServiceDeleteStoreRequest{Store: "gone", Kind: colp.CollectionsStoreKind_COLLECTIONS_STORE_KIND_HASH})
	add(c, "ListStores", &colp.CollectionsServiceListStoresRequest{Kind: colp.CollectionsStoreKind_COLLECTIONS_STORE_KIND_HASH, PageSize: 10})
	add(c, "ScanKeys", &colp.CollectionsServiceScanKeysRequest{Store: fxHash, Match: "*", Count: 10})
	add(c, "DeleteKeys", &colp.CollectionsServiceDeleteKeysRequest{Store: fxHash, Keys: []string{"gone"}})
	add(c, "HSet", &colp.CollectionsServiceHSetRequest{Store: fxHash, Key: "k", Fields: map[string][]byte{"f2": []byte("v")}})
	add(c, "HSetNX", &colp.CollectionsServiceHSetNXRequest{Store: fxHash, Key: "k", Field: "f3", Value: []byte("v")})
	add(c, "HGet", &colp.CollectionsServiceHGetRequest{Store: fxHash, Key: "k", Field: "f"})
	add(c, "HMGet", &colp.CollectionsServiceHMGetRequest{Store: fxHash, Key: "k", Fields: []string{"f"}})
	add(c, "HDel", &colp.CollectionsServiceHDelRequest{Store: fxHash, Key: "k", Fields: []string{"gone"}})
	add(c, "HGetAll", &colp.CollectionsServiceHGetAllRequest{Store: fxHash, Key: "k"})
	add(c, "HIncrBy", &colp.CollectionsServiceHIncrByRequest{Store: fxHash, Key: "k", Field: "n", Delta: 1})
	add(c, "HIncrByFloat", &colp.CollectionsServiceHIncrByFloatRequest{Store: fxHash, Key: "k", Field: "x", Delta: 1.5})
	add(c, "HExists", &colp.CollectionsServiceHExistsRequest{Store: fxHash, Key: "k", Field: "f"})
	add(c, "HLen", &colp.CollectionsServiceHLenRequest{Store: fxHash, Key: "k"})
	add(c, "HKeys", &colp.CollectionsServiceHKeysRequest{Store: fxHash, Key: "k"})
	add(c, "HVals", &colp.CollectionsServiceHValsRequest{Store: fxHash, Key: "k"})
	add(c, "HScan", &colp.CollectionsServiceHScanRequest{Store: fxHash, Key: "k", Match: "*", Count: 10})
	add(c, "HExpire", &colp.CollectionsServiceHExpireRequest{Store: fxHash, Key: "k", Fields: []string{"gone"}, TtlMs: 60_000})
	add(c, "HPersist", &colp.CollectionsServiceHPersistRequest{Store: fxHash, Key: "k", Fields: []string{"gone"}})
	add(c, "HTTL", &colp.CollectionsServiceHTTLRequest{Store: fxHash, Key: "k", Fields: []string{"f"}})
	add(c, "SAdd", &colp.CollectionsServiceSAddRequest{Store: fxSet, Key: "s", Members: [][]byte{[]byte("c")}})
	add(c, "SRem", &colp.CollectionsServiceSRemRequest{Store: fxSet, Key: "s", Members: [][]byte{[]byte("gone")}})
	add(c, "SIsMember", &colp.CollectionsServiceSIsMemberRequest{Store: fxSet, Key: "s", Member: []byte("a")})
	add(c, "SMIsMember", &colp.CollectionsServiceSMIsMemberRequest{Store: fxSet, Key: "s", Members: [][]byte{[]byte("a")}})
	add(c, "SMembers", &colp.CollectionsServiceSMembersRequest{Store: fxSet, Key: "s"})
	add(c, "SCard", &colp.CollectionsServiceSCardRequest{Store: fxSet, Key: "s"})
	add(c, "SPop", &colp.CollectionsServiceSPopRequest{Store: fxSet, Key: "gone", Count: 1})
	add(c, "SRandMember", &colp.CollectionsServiceSRandMemberRequest{Store: fxSet, Key: "s", Count: 1})
	add(c, "SInter", &colp.CollectionsServiceSInterRequest{Store: fxSet, Keys: []string{"s"}})
	add(c, "SUnion", &colp.CollectionsServiceSUnionRequest{Store: fxSet, Keys: []string{"s"}})
	add(c, "SDiff", &colp.CollectionsServiceSDiffRequest{Store: fxSet, Keys: []string{"s"}})
	add(c, "SMove", &colp.CollectionsServiceSMoveRequest{Store: fxSet, Source: "gone", Destination: "s2", Member: []byte("a")})
	add(c, "SScan", &colp.CollectionsServiceSScanRequest{Store: fxSet, Key: "s", Match: "*", Count: 10})
	add(c, "QueuePush", &colp.CollectionsServiceQueuePushRequest{Queue: fxQueue, Payload: []byte("p"), Id: "m3", DelayMs: proto.Int64(0), Attributes: map[string]string{"a": "b"}})
	add(c, "QueuePop", &colp.CollectionsServiceQueuePopRequest{Queue: fxQueue, WaitMs: 0, VisibilityTimeoutMs: proto.Int64(30_000), MaxMessages: 1})
	add(c, "QueueAck", &colp.CollectionsServiceQueueAckRequest{Queue: fxQueue, Receipt: "gone"})
	add(c, "QueueNack", &colp.CollectionsServiceQueueNackRequest{Queue: fxQueue, Receipt: fx.receipt, DelayMs: 1000})
	add(c, "QueueExtendVisibility", &colp.CollectionsServiceQueueExtendVisibilityRequest{Queue: fxQueue, Receipt: fx.receipt, VisibilityTimeoutMs: 30_000})
	add(c, "QueueLen", &colp.CollectionsServiceQueueLenRequest{Queue: fxQueue})
	add(c, "QueuePeek", &colp.CollectionsServiceQueuePeekRequest{Queue: fxQueue, Count: 1})
	add(c, "QueuePurge", &colp.CollectionsServiceQueuePurgeRequest{Queue: "gone"})

	// Sketches.
	k := "SketchService"
	add(k, "CreateSketch", &skp.SketchServiceCreateSketchRequest{Config: &skp.SketchConfig{Name: "nsb", Kind: &skp.SketchConfig_Bloom{Bloom: &skp.BloomConfig{Capacity: 100, ErrorRate: 0.01, Expansion: 2}}}})
	b[k+"/CreateSketch#hll"] = one(&skp.SketchServiceCreateSketchRequest{Config: &skp.SketchConfig{Name: "nsh", Kind: &skp.SketchConfig_Hll{Hll: &skp.HLLConfig{Precision: 12}}}})
	b[k+"/CreateSketch#cms"] = one(&skp.SketchServiceCreateSketchRequest{Config: &skp.SketchConfig{Name: "nsc", Kind: &skp.SketchConfig_Cms{Cms: &skp.CMSConfig{Width: 64, Depth: 4}}}})
	b[k+"/CreateSketch#topk"] = one(&skp.SketchServiceCreateSketchRequest{Config: &skp.SketchConfig{Name: "nsk", Kind: &skp.SketchConfig_Topk{Topk: &skp.TopKConfig{K: 3, Width: 64, Depth: 4, Decay: 0.9}}}})
	b[k+"/CreateSketch#tdigest"] = one(&skp.SketchServiceCreateSketchRequest{Config: &skp.SketchConfig{Name: "nst", Kind: &skp.SketchConfig_Tdigest{Tdigest: &skp.TDigestConfig{Compression: 100}}}})
	add(k, "GetSketch", &skp.SketchServiceGetSketchRequest{Name: "sb", Kind: skp.SketchKind_SKETCH_KIND_BLOOM})
	add(k, "DeleteSketch", &skp.SketchServiceDeleteSketchRequest{Name: "gone", Kind: skp.SketchKind_SKETCH_KIND_BLOOM})
	add(k, "ListSketches", &skp.SketchServiceListSketchesRequest{Kind: skp.SketchKind_SKETCH_KIND_BLOOM, PageSize: 10})
	item := []byte("i")
	items := [][]byte{item}
	add(k, "BloomAdd", &skp.SketchServiceBloomAddRequest{Name: "sb", Item: item})
	add(k, "BloomMAdd", &skp.SketchServiceBloomMAddRequest{Name: "sb", Items: items})
	add(k, "BloomExists", &skp.SketchServiceBloomExistsRequest{Name: "sb", Item: item})
	add(k, "BloomMExists", &skp.SketchServiceBloomMExistsRequest{Name: "sb", Items: items})
	add(k, "BloomCard", &skp.SketchServiceBloomCardRequest{Name: "sb"})
	add(k, "HLLAdd", &skp.SketchServiceHLLAddRequest{Name: "sh", Items: items})
	add(k, "HLLCount", &skp.SketchServiceHLLCountRequest{Name: "sh", Others: []string{"sh"}})
	add(k, "HLLMerge", &skp.SketchServiceHLLMergeRequest{Name: "sh", Sources: []string{"sh"}})
	inc := []*skp.SketchIncrement{{Item: item, Increment: 1}}
	add(k, "CMSIncrBy", &skp.SketchServiceCMSIncrByRequest{Name: "sc", Increments: inc})
	add(k, "CMSQuery", &skp.SketchServiceCMSQueryRequest{Name: "sc", Items: items})
	add(k, "CMSMerge", &skp.SketchServiceCMSMergeRequest{Name: "sc", Sources: []string{"sc"}, Weights: []int64{1}})
	add(k, "TopKAdd", &skp.SketchServiceTopKAddRequest{Name: "sk", Items: items})
	add(k, "TopKIncrBy", &skp.SketchServiceTopKIncrByRequest{Name: "sk", Increments: inc})
	add(k, "TopKQuery", &skp.SketchServiceTopKQueryRequest{Name: "sk", Items: items})
	add(k, "TopKList", &skp.SketchServiceTopKListRequest{Name: "sk"})
	vals := []float64{1.5}
	add(k, "TDigestAdd", &skp.SketchServiceTDigestAddRequest{Name: "st", Values: vals})
	add(k, "TDigestQuantile", &skp.SketchServiceTDigestQuantileRequest{Name: "st", Quantiles: []float64{0.5}})
	add(k, "TDigestCDF", &skp.SketchServiceTDigestCDFRequest{Name: "st", Values: vals})
	add(k, "TDigestRank", &skp.SketchServiceTDigestRankRequest{Name: "st", Values: vals})
	add(k, "TDigestRevRank", &skp.SketchServiceTDigestRevRankRequest{Name: "st", Values: vals})
	add(k, "TDigestByRank", &skp.SketchServiceTDigestByRankRequest{Name: "st", Ranks: []int64{1}})
	add(k, "TDigestByRevRank", &skp.SketchServiceTDigestByRevRankRequest{Name: "st", Ranks: []int64{1}})
	add(k, "TDigestTrimmedMean", &skp.SketchServiceTDigestTrimmedMeanRequest{Name: "st", LowCutQuantile: 0.1, HighCutQuantile: 0.9})
	add(k, "TDigestMin", &skp.SketchServiceTDigestMinRequest{Name: "st"})
	add(k, "TDigestMax", &skp.SketchServiceTDigestMaxRequest{Name: "st"})
	add(k, "TDigestMerge", &skp.SketchServiceTDigestMergeRequest{Name: "st", Sources: []string{"st"}})
	add(k, "TDigestReset", &skp.SketchServiceTDigestResetRequest{Name: "gone"})

	// Object store.
	o := "ObjectStoreService"
	ocfg := func(name string) *op.ObjectStoreConfig {
		return &op.ObjectStoreConfig{Name: name, Description: "d", MaxBytes: 1 << 20, TtlMs: 60_000, ChunkSize: 4096}
	}
	add(o, "CreateStore", &op.ObjectStoreServiceCreateStoreRequest{Config: ocfg("no")})
	add(o, "UpdateStore", &op.ObjectStoreServiceUpdateStoreRequest{Config: &op.ObjectStoreConfig{Name: fxObjects}})
	add(o, "GetStore", &op.ObjectStoreServiceGetStoreRequest{Store: fxObjects})
	add(o, "DeleteStore", &op.ObjectStoreServiceDeleteStoreRequest{Store: "gone"})
	add(o, "ListStores", &op.ObjectStoreServiceListStoresRequest{PageSize: 10})
	put := objectPut("obj2")
	b[o+"/Put"] = []proto.Message{put[0], put[1], put[2]}
	add(o, "Get", &op.ObjectStoreServiceGetRequest{Store: fxObjects, Name: "obj", Offset: 0, Length: 5})
	add(o, "GetInfo", &op.ObjectStoreServiceGetInfoRequest{Store: fxObjects, Name: "obj"})
	add(o, "UpdateMeta", &op.ObjectStoreServiceUpdateMetaRequest{Store: fxObjects, Name: "obj", Meta: &op.ObjectMeta{Name: "obj", Description: "d2",
		Headers: []*commonpb.Header{{Key: "h", Values: []string{"v"}}}}})
	add(o, "Delete", &op.ObjectStoreServiceDeleteRequest{Store: fxObjects, Name: "gone"})
	add(o, "List", &op.ObjectStoreServiceListRequest{Store: fxObjects, BatchSize: 10})
	add(o, "Watch", &op.ObjectStoreServiceWatchRequest{Store: fxObjects})

	// Locks.
	l := "LockService"
	add(l, "Acquire", &lp.LockServiceAcquireRequest{Key: "hl-a", RequestId: "la", MaxWaitMs: 0, LeaseTtlMs: 3_600_000})
	add(l, "MultiAcquire", &lp.LockServiceMultiAcquireRequest{Keys: []string{"hl-m1", "hl-m2"}, RequestId: "lm", LeaseTtlMs: 3_600_000})
	add(l, "TryAcquire", &lp.LockServiceTryAcquireRequest{Key: "hl-t", RequestId: "lt", MaxWaitMs: 0, LeaseTtlMs: 3_600_000})
	add(l, "MultiTryAcquire", &lp.LockServiceMultiTryAcquireRequest{Keys: []string{"hl-n1"}, RequestId: "ln", LeaseTtlMs: 3_600_000})
	add(l, "Watch", &lp.LockServiceWatchRequest{LeaseId: fx.leaseID, RequestId: "hl-req"})
	add(l, "Renew", &lp.LockServiceRenewRequest{LeaseId: fx.leaseID, RequestId: "hl-req", LeaseTtlMs: 3_600_000})
	add(l, "Release", &lp.LockServiceReleaseRequest{LeaseId: "gone", RequestId: "gone"})
	add(l, "Inspect", &lp.LockServiceInspectRequest{Key: "hl-held"})
	add(l, "List", &lp.LockServiceListRequest{Prefix: "hl-", PageSize: 10})
	// A key nobody holds: the fixture's held lock stays held.
	add(l, "Revoke", &lp.LockServiceRevokeRequest{Key: "hl-nobody", RequestId: "lr"})
	add(l, "Observe", &lp.LockServiceObserveRequest{Key: "hl-held"})
	for _, msgs := range b {
		for _, m := range msgs {
			withFence(m.ProtoReflect(), fx.fence)
		}
	}
	return b
}

// withFence sets fence on m's fence field, or on that of the header it
// carries (an object Put's first message), when it has one.
func withFence(m protoreflect.Message, fence *commonpb.Fence) {
	fs := m.Descriptor().Fields()
	if f := fs.ByName("fence"); f != nil && f.Message() != nil && f.Message().FullName() == fence.ProtoReflect().Descriptor().FullName() {
		m.Set(f, protoreflect.ValueOfMessage(proto.Clone(fence).ProtoReflect()))
		return
	}
	if h := fs.ByName("header"); h != nil && h.Message() != nil && m.Has(h) {
		withFence(m.Mutable(h).Message(), fence)
	}
}

// fresh gives a create's baseline a name of its own for the n-th request,
// so that each mutation creates (or is refused creating) a new resource
// instead of meeting the one an earlier mutation made ("exists"). Other
// baselines are returned as they are.
func fresh(m proto.Message, n int) proto.Message {
	suffix := fmt.Sprintf("-%d", n)
	switch r := m.(type) {
	case *kp.KVServiceCreateBucketRequest:
		c := proto.Clone(r).(*kp.KVServiceCreateBucketRequest)
		c.Config.Name += suffix
		return c
	case *sp.StreamServiceCreateStreamRequest:
		c := proto.Clone(r).(*sp.StreamServiceCreateStreamRequest)
		c.Config.Name += suffix
		c.Config.Subjects = []string{c.Config.Name + ".>"}
		return c
	case *sp.StreamServiceCreateConsumerRequest:
		c := proto.Clone(r).(*sp.StreamServiceCreateConsumerRequest)
		c.Config.DurableName += suffix
		return c
	case *colp.CollectionsServiceCreateStoreRequest:
		c := proto.Clone(r).(*colp.CollectionsServiceCreateStoreRequest)
		c.Config.Name += suffix
		return c
	case *skp.SketchServiceCreateSketchRequest:
		c := proto.Clone(r).(*skp.SketchServiceCreateSketchRequest)
		c.Config.Name += suffix
		return c
	case *op.ObjectStoreServiceCreateStoreRequest:
		c := proto.Clone(r).(*op.ObjectStoreServiceCreateStoreRequest)
		c.Config.Name += suffix
		return c
	}
	return m
}

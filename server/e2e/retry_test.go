package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/collections"
	_ "git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	_ "git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	_ "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	_ "git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	_ "git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	_ "git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	_ "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/sketch"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// services are the proto services of the wire contract.
var services = []string{
	"waymaker.v1.LockService", "waymaker.v1.KVService", "waymaker.v1.StreamService",
	"waymaker.v1.CollectionsService", "waymaker.v1.SketchService",
	"waymaker.v1.ObjectStoreService", "waymaker.v1.CacheService", "waymaker.v1.ClusterService",
}

// notDeduplicated are the mutations that carry no request id, and why.
var notDeduplicated = map[string]string{
	// Lock calls name the lease owner with their own request_id, which the
	// lock state machine answers the same lease for (lock.proto).
	"waymaker.v1.LockService.Acquire":         "lease owner id",
	"waymaker.v1.LockService.MultiAcquire":    "lease owner id",
	"waymaker.v1.LockService.TryAcquire":      "lease owner id",
	"waymaker.v1.LockService.MultiTryAcquire": "lease owner id",
	"waymaker.v1.LockService.Renew":           "lease owner id",
	"waymaker.v1.LockService.Release":         "lease owner id",
	// Deliveries are at least once, as in JetStream: a delivery whose reply
	// is lost is redelivered after the consumer's ack wait.
	"waymaker.v1.StreamService.Consume": "delivery: at least once",
	"waymaker.v1.StreamService.Fetch":   "delivery: at least once",
	// Pipelined publishes are correlated by publish_id within one stream;
	// the SDK re-sends unacked ones only with a msg id.
	"waymaker.v1.StreamService.PublishStream": "pipelined: msg_id dedup",
	// An object is committed by its last chunk; a re-sent Put writes the
	// same content again as a new version.
	"waymaker.v1.ObjectStoreService.Put": "client stream: whole-object retry",
}

// idempotentByNature are the mutations marked IDEMPOTENT without a request
// id because applying them twice leaves the state as applying them once:
// they set a value rather than change one.
var idempotentByNature = map[string]string{
	"waymaker.v1.ClusterService.AddVoter":           "re-adding a member as it is changes nothing",
	"waymaker.v1.ClusterService.AddNonvoter":        "re-adding a member as it is changes nothing",
	"waymaker.v1.ClusterService.RemoveServer":       "removing a removed member answers not_found, changing nothing",
	"waymaker.v1.ClusterService.TransferLeadership": "to a named voter: once it leads, a repeat is a no-op",
	"waymaker.v1.ClusterService.Announce":           "sets a node's client address",
}

// TestEveryMutationRPCCarriesRequestID reads the rule off the descriptors,
// so a new RPC cannot forget it: every method is either a read marked
// NO_SIDE_EFFECTS, or a mutation marked IDEMPOTENT whose request has a
// string request_id, or one of the listed exceptions.
func TestEveryMutationRPCCarriesRequestID(t *testing.T) {
	seen := 0
	for _, name := range services {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			seen++
			full := string(m.FullName())
			level := idempotency(m)
			if _, ok := notDeduplicated[full]; ok {
				if level == descriptorpb.MethodOptions_IDEMPOTENT {
					t.Errorf("%s is listed as not deduplicated but marked IDEMPOTENT", full)
				}
				continue
			}
			switch level {
			case descriptorpb.MethodOptions_NO_SIDE_EFFECTS:
			case descriptorpb.MethodOptions_IDEMPOTENT:
				if _, ok := idempotentByNature[full]; ok {
					continue
				}
				f := m.Input().Fields().ByName("request_id")
				if f == nil || f.Kind() != protoreflect.StringKind {
					t.Errorf("%s is IDEMPOTENT but %s has no string request_id", full, m.Input().FullName())
				}
				if m.IsStreamingClient() {
					t.Errorf("%s: a client stream cannot be retried by request id", full)
				}
			default:
				t.Errorf("%s has no idempotency_level: mark a read NO_SIDE_EFFECTS, or give a mutation a request_id and mark it IDEMPOTENT", full)
			}
		}
	}
	if seen < 100 {
		t.Fatalf("checked %d methods; the descriptors are not all linked in", seen)
	}
}

func idempotency(m protoreflect.MethodDescriptor) descriptorpb.MethodOptions_IdempotencyLevel {
	o, _ := m.Options().(*descriptorpb.MethodOptions)
	return o.GetIdempotencyLevel()
}

var levels sync.Map // full method "/pkg.Svc/M" → descriptorpb level

func levelOf(fullMethod string) descriptorpb.MethodOptions_IdempotencyLevel {
	if v, ok := levels.Load(fullMethod); ok {
		return v.(descriptorpb.MethodOptions_IdempotencyLevel)
	}
	name := strings.ReplaceAll(strings.TrimPrefix(fullMethod, "/"), "/", ".")
	var level descriptorpb.MethodOptions_IdempotencyLevel
	if d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name)); err == nil {
		if m, ok := d.(protoreflect.MethodDescriptor); ok {
			level = idempotency(m)
		}
	}
	levels.Store(fullMethod, level)
	return level
}

// requireRequestIDs is a server interceptor that every e2e server runs
// (see start): an SDK call of an IDEMPOTENT method that the server applied
// without a request id fails the test, so the rule is checked on every
// mutation the suites make. Refused requests are left to the bad-input
// tests, which send them through the generated stubs.
func requireRequestIDs(t testing.TB) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if levelOf(info.FullMethod) != descriptorpb.MethodOptions_IDEMPOTENT || rawClient(ctx) {
			return resp, err
		}
		if _, ok := idempotentByNature[strings.ReplaceAll(strings.TrimPrefix(info.FullMethod, "/"), "/", ".")]; ok {
			return resp, err
		}
		if r, ok := req.(interface{ GetRequestId() string }); ok && r.GetRequestId() != "" {
			return resp, err
		}
		if res, ok := resp.(interface{ GetResult() *commonpb.Result }); !ok || !res.GetResult().GetSuccess() {
			return resp, err
		}
		t.Errorf("%s was applied without a request id: a retry of it could apply twice", info.FullMethod)
		return resp, err
	}
}

// rawClient tells calls made by tests through the generated stubs (which
// may leave request_id empty on purpose) from the SDK's: those tests send
// their calls with rawCtx.
func rawClient(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(rawHeader)) > 0
}

const rawHeader = "x-e2e-raw-stub"

// rawCtx marks the calls made with ctx as a test's own raw calls.
func rawCtx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, rawHeader, "1")
}

// withRequestIDCheck adds requireRequestIDs to a test server, and sets
// it to the run's session mode (session_test.go): every e2e server built
// with it serves the mode WAYMAKER_E2E_SESSIONS names.
func withRequestIDCheck(t testing.TB) waymakertest.Option {
	return waymakertest.WithConfig(func(c *server.Config) {
		c.GRPCOptions = append(c.GRPCOptions, grpc.ChainUnaryInterceptor(requireRequestIDs(t)))
		c.DisableSessions = !sessionsOn()
	})
}

// replyDropper loses the reply of chosen calls after the server applied
// them, as a cut connection or a crash between apply and reply does.
type replyDropper struct {
	mu   sync.Mutex
	drop map[string]int // full method → replies still to lose
	lost map[string]int
}

func (d *replyDropper) loseNext(method string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drop[method] = n
}

func (d *replyDropper) interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.drop[info.FullMethod] > 0 {
		d.drop[info.FullMethod]--
		d.lost[info.FullMethod]++
		return nil, status.Error(codes.Unavailable, "test: reply lost after apply")
	}
	return resp, err
}

func (d *replyDropper) lostCount(method string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lost[method]
}

// TestLostReplyAnswersAsTheFirstAttempt loses the first reply of each
// mutation after the server applied it. The SDK retries with the same
// request id, and the answer must be the one the lost reply carried: the
// Redis counts, the first revision or sequence, "not a duplicate".
func TestLostReplyAnswersAsTheFirstAttempt(t *testing.T) {
	d := &replyDropper{drop: map[string]int{}, lost: map[string]int{}}
	srv := waymakertest.Start(t, withSuite(t, waymakertest.WithConfig(func(c *server.Config) {
		c.GRPCOptions = append(c.GRPCOptions, grpc.ChainUnaryInterceptor(d.interceptor))
	}))...)
	c := connect(t, srv.Addr())
	ctx := testCtx(t, 60*time.Second)
	cl := c.Collections()
	hs, err := cl.CreateHashStore(ctx, collections.HashStoreConfig{Name: "h"})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := cl.CreateSetStore(ctx, collections.SetStoreConfig{Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := cl.CreateQueue(ctx, collections.QueueConfig{Name: "q"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.KeyValue().Create(ctx, kv.Config{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Streams().Create(ctx, stream.Config{Name: "ev", Subjects: []string{"ev.>"}})
	if err != nil {
		t.Fatal(err)
	}
	bloom, err := c.Sketches().CreateBloom(ctx, sketch.BloomConfig{Name: "bl", Capacity: 1000, ErrorRate: 0.01})
	if err != nil {
		t.Fatal(err)
	}

	const svc = "/waymaker.v1."
	cases := []struct {
		method string
		run    func(t *testing.T)
	}{
		{"CollectionsService/HSet", func(t *testing.T) {
			if n, err := hs.Set(ctx, "k", map[string][]byte{"f1": []byte("v"), "f2": []byte("v")}); err != nil || n != 2 {
				t.Fatalf("HSET of two new fields = %d, %v; want 2 (fields added)", n, err)
			}
		}},
		{"CollectionsService/HDel", func(t *testing.T) {
			if n, err := hs.Del(ctx, "k", "f1"); err != nil || n != 1 {
				t.Fatalf("HDEL of an existing field = %d, %v; want 1", n, err)
			}
		}},
		{"CollectionsService/HIncrBy", func(t *testing.T) {
			if n, err := hs.IncrBy(ctx, "k", "n", 5); err != nil || n != 5 {
				t.Fatalf("HINCRBY 5 = %d, %v; want 5", n, err)
			}
			if v, err := hs.Get(ctx, "k", "n"); err != nil || string(v) != "5" {
				t.Fatalf("field after one HINCRBY = %q, %v: applied twice?", v, err)
			}
		}},
		{"CollectionsService/SAdd", func(t *testing.T) {
			if n, err := ss.Add(ctx, "k", "a", "b", "c"); err != nil || n != 3 {
				t.Fatalf("SADD of three new members = %d, %v; want 3", n, err)
			}
		}},
		{"CollectionsService/SRem", func(t *testing.T) {
			if n, err := ss.Rem(ctx, "k", "a"); err != nil || n != 1 {
				t.Fatalf("SREM of a member = %d, %v; want 1", n, err)
			}
		}},
		{"CollectionsService/SPop", func(t *testing.T) {
			got, err := ss.Pop(ctx, "k", 1)
			if err != nil || len(got) != 1 {
				t.Fatalf("SPOP = %v, %v", got, err)
			}
			if n, _ := ss.Card(ctx, "k"); n != 1 {
				t.Fatalf("after one SPOP of 2 members, %d left: popped twice?", n)
			}
		}},
		{"CollectionsService/QueuePush", func(t *testing.T) {
			r, err := q.Push(ctx, []byte("job"))
			if err != nil || r.Duplicate {
				t.Fatalf("Push = %+v, %v; want stored, not a duplicate", r, err)
			}
			if n, _ := q.Len(ctx); n.Ready != 1 {
				t.Fatalf("queue holds %d messages after one Push", n)
			}
		}},
		{"CollectionsService/QueuePop", func(t *testing.T) {
			m, err := q.Pop(ctx, time.Second)
			if err != nil || m == nil || string(m.Payload) != "job" {
				t.Fatalf("Pop = %v, %v; want the pushed job back", m, err)
			}
		}},
		{"KVService/Put", func(t *testing.T) {
			before, err := b.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rev, err := b.Put(ctx, "k", []byte("v1"))
			if err != nil {
				t.Fatal(err)
			}
			if rev != before.Revision+1 {
				t.Fatalf("Put answered revision %d after %d: the retry stored it again", rev, before.Revision)
			}
			e, err := b.Get(ctx, "k")
			if err != nil || e.Revision != rev {
				t.Fatalf("Put answered revision %d, Get says %v, %v: a retry stored it again", rev, e, err)
			}
		}},
		{"KVService/Create", func(t *testing.T) {
			if _, err := b.Create(ctx, "new", []byte("v")); err != nil {
				t.Fatalf("Create after a lost reply = %v, want success (not exists)", err)
			}
		}},
		{"KVService/Update", func(t *testing.T) {
			e, _ := b.Get(ctx, "k")
			if _, err := b.Update(ctx, "k", []byte("v2"), e.Revision); err != nil {
				t.Fatalf("Update after a lost reply = %v, want success (not wrong_revision)", err)
			}
		}},
		{"StreamService/Publish", func(t *testing.T) {
			a, err := st.Publish(ctx, "ev.1", []byte("x"), stream.WithMsgID("m1"))
			if err != nil || a.Duplicate || a.Sequence != 1 {
				t.Fatalf("Publish = %+v, %v; want seq 1, not a duplicate", a, err)
			}
			// A second Publish of the same msg id is the user's duplicate.
			if a, err := st.Publish(ctx, "ev.1", []byte("x"), stream.WithMsgID("m1")); err != nil || !a.Duplicate {
				t.Fatalf("re-publish of msg id m1 = %+v, %v; want Duplicate", a, err)
			}
		}},
		{"StreamService/PublishBatch", func(t *testing.T) {
			acks, err := st.PublishBatch(ctx, []stream.Message{{Subject: "ev.2", Data: []byte("a")}, {Subject: "ev.2", Data: []byte("b")}})
			if err != nil || len(acks) != 2 || acks[0].Sequence != 2 || acks[1].Sequence != 3 {
				t.Fatalf("PublishBatch = %+v, %v; want seqs 2, 3", acks, err)
			}
			info, err := st.Info(ctx)
			if err != nil || info.State.Msgs != 3 {
				t.Fatalf("stream holds %+v, %v; want 3 messages", info.State, err)
			}
		}},
		{"SketchService/BloomAdd", func(t *testing.T) {
			if added, err := bloom.Add(ctx, []byte("x")); err != nil || !added {
				t.Fatalf("BloomAdd of a new item = %v, %v; want added", added, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.method, "/", "."), func(t *testing.T) {
			m := svc + tc.method
			d.loseNext(m, 1)
			tc.run(t)
			if d.lostCount(m) != 1 {
				t.Fatalf("%s: no reply was lost; the test did not test", m)
			}
		})
	}
}

// TestRequestIDReusedWithAnotherRequestIsRefused: a request id names one
// call; sent again with a different request it is refused, naming the
// field, and nothing changes.
func TestRequestIDReusedWithAnotherRequestIsRefused(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 20*time.Second)
	b, err := c.KeyValue().Create(ctx, kv.Config{Name: name(t)})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawKV(t, c)
	ctx = rawCtx(ctx)
	first, err := raw.Put(ctx, putReq(b.Name(), "k", "one", "same-id"))
	if err != nil || !first.GetResult().GetSuccess() {
		t.Fatalf("first Put: %v, %v", first, err)
	}
	again, err := raw.Put(ctx, putReq(b.Name(), "k", "one", "same-id"))
	if err != nil || again.GetRevision() != first.GetRevision() {
		t.Fatalf("retry answered %v, %v; want revision %d", again, err, first.GetRevision())
	}
	other, err := raw.Put(ctx, putReq(b.Name(), "k", "two", "same-id"))
	if err != nil || other.GetResult().GetResultCode() != "invalid_argument" || !strings.Contains(other.GetResult().GetMessage(), "request_id") {
		t.Fatalf("reuse with another value answered %v, %v; want invalid_argument naming request_id", other, err)
	}
	e, err := b.Get(ctx, "k")
	if err != nil || string(e.Value) != "one" || e.Revision != first.GetRevision() {
		t.Fatalf("after the refused reuse: %+v, %v", e, err)
	}
	long, err := raw.Put(ctx, putReq(b.Name(), "k", "one", strings.Repeat("x", 129)))
	if err != nil || long.GetResult().GetResultCode() != "invalid_argument" || !strings.Contains(long.GetResult().GetMessage(), "request_id") {
		t.Fatalf("a 129-byte request id answered %v, %v", long, err)
	}
}

func rawKV(t testing.TB, c *waymaker.Client) kvpb.KVServiceClient {
	t.Helper()
	return kvpb.NewKVServiceClient(c.Conn())
}

func putReq(bucket, key, value, id string) *kvpb.KVServicePutRequest {
	return &kvpb.KVServicePutRequest{Bucket: bucket, Key: key, Value: []byte(value), RequestId: id}
}

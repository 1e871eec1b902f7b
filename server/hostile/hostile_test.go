// Package hostile_test sends every RPC of every service malformed requests
// over a real server and checks that each is refused cleanly or accepted as
// documented, never panics, and that a refused request changes nothing.
//
// The mutations are generated from the proto descriptors: every scalar field
// of every request (and of every sub-message a baseline sets) is tried with
// hostile values one at a time, so a new field or RPC cannot be forgotten;
// only the valid baselines are written by hand (baselines_test.go), and a
// method without one fails the test.
package hostile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lockMaxMs is the lock service's own limit for lease_ttl_ms and
// max_wait_ms (1 hour), below the server-wide MaxDurationMs.
const lockMaxMs = 3_600_000

// rawCodec sends bytes the test marshalled itself (so that a string field
// can carry invalid UTF-8, which proto.Marshal refuses) and decodes replies
// as protobuf. It keeps the name "proto", so the server decodes as usual.
type rawCodec struct{}

type rawMsg struct{ b []byte }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(*rawMsg).b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

func (rawCodec) Name() string { return "proto" }

// expect says what a mutation must be answered with.
type expect int

const (
	anyClean     expect = iota // accepted, or refused naming the field
	mustRefuse                 // invalid_argument naming the field
	mustNotBlame               // not refused for this field's sake
	refusedRaw                 // refused: invalid_argument naming the field, or a gRPC decode error
)

type mutation struct {
	path   []protoreflect.FieldDescriptor
	label  string // what was tried, e.g. "MaxInt64"
	value  protoreflect.Value
	raw    []byte // when set: the field's bytes on the wire instead of value
	expect expect
}

func (m mutation) field() string {
	parts := make([]string, len(m.path))
	for i, f := range m.path {
		parts[i] = string(f.Name())
	}
	return strings.Join(parts, ".")
}

func (m mutation) leaf() string { return string(m.path[len(m.path)-1].Name()) }

func isDuration(name string) bool {
	return strings.HasSuffix(name, "_ms") && !strings.HasSuffix(name, "_at_ms")
}

// mutations lists, for every scalar field of m (and of the sub-messages m
// sets), the hostile values to try and what each must be answered with.
func mutations(method string, m protoreflect.Message, path []protoreflect.FieldDescriptor, maxDur int64) []mutation {
	svc, _, _ := strings.Cut(method, "/")
	var out []mutation
	fs := m.Descriptor().Fields()
	for i := 0; i < fs.Len(); i++ {
		f := fs.Get(i)
		p := append(append([]protoreflect.FieldDescriptor(nil), path...), f)
		if f.IsMap() {
			continue // map keys and values: covered by the handlers' own tests
		}
		if f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind {
			switch {
			case !m.Has(f):
			case f.IsList():
				out = append(out, mutations(method, m.Get(f).List().Get(0).Message(), p, maxDur)...)
			default:
				out = append(out, mutations(method, m.Get(f).Message(), p, maxDur)...)
			}
			continue
		}
		add := func(label string, v protoreflect.Value, e expect) {
			out = append(out, mutation{path: p, label: label, value: v, expect: e})
		}
		name := string(f.Name())
		docMax, hasMax := countMax[method+" "+mutation{path: p}.field()]
		switch f.Kind() {
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			i64 := func(label string, n int64, e expect) { add(label, protoreflect.ValueOfInt64(n), e) }
			switch {
			case isDuration(name):
				max := maxDur
				if svc == "LockService" {
					max = lockMaxMs
				}
				i64("0", 0, anyClean)
				i64("-1", -1, mustRefuse)
				i64("max", max, mustNotBlame)
				i64("max+1", max+1, mustRefuse)
				i64("MaxInt64", math.MaxInt64, mustRefuse)
			case strings.HasSuffix(name, "_at_ms"):
				i64("0", 0, anyClean)
				i64("-1", -1, mustRefuse)
				i64("MaxInt64", math.MaxInt64, mustRefuse)
			default:
				i64("0", 0, anyClean)
				i64("-1", -1, anyClean)
				i64("MaxInt64", math.MaxInt64, anyClean)
				i64("MinInt64", math.MinInt64, anyClean)
				if hasMax {
					i64("max", docMax, mustNotBlame)
					i64("max+1", docMax+1, mustRefuse)
				}
			}
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			for _, n := range []int32{0, -1, math.MaxInt32, math.MinInt32} {
				add(fmt.Sprint(n), protoreflect.ValueOfInt32(n), anyClean)
			}
			if hasMax {
				add("max", protoreflect.ValueOfInt32(int32(docMax)), mustNotBlame)
				add("max+1", protoreflect.ValueOfInt32(int32(docMax+1)), mustRefuse)
			}
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			add("0", protoreflect.ValueOfUint64(0), anyClean)
			add("MaxUint64", protoreflect.ValueOfUint64(math.MaxUint64), anyClean)
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			add("0", protoreflect.ValueOfUint32(0), anyClean)
			add("MaxUint32", protoreflect.ValueOfUint32(math.MaxUint32), anyClean)
		case protoreflect.EnumKind:
			add("-1", protoreflect.ValueOfEnum(-1), mustRefuse)
			add("99", protoreflect.ValueOfEnum(99), mustRefuse)
		case protoreflect.DoubleKind, protoreflect.FloatKind:
			for _, x := range []float64{-1, math.NaN(), math.Inf(1)} {
				if f.Kind() == protoreflect.FloatKind {
					add(fmt.Sprint(x), protoreflect.ValueOfFloat32(float32(x)), anyClean)
				} else {
					add(fmt.Sprint(x), protoreflect.ValueOfFloat64(x), anyClean)
				}
			}
		case protoreflect.StringKind:
			add("empty", protoreflect.ValueOfString(""), anyClean)
			add("70KiB", protoreflect.ValueOfString(strings.Repeat("a", 70<<10)), anyClean)
			out = append(out, mutation{path: p, label: "invalid UTF-8", raw: []byte("a\xff\xfeb"), expect: refusedRaw})
		case protoreflect.BytesKind:
			add("empty", protoreflect.ValueOfBytes(nil), anyClean)
			add("1MiB+1", protoreflect.ValueOfBytes(make([]byte, 1<<20+1)), anyClean)
		}
	}
	return out
}

// apply returns the wire bytes of base with mutation mu applied.
func apply(base proto.Message, mu mutation) ([]byte, error) {
	if mu.raw != nil {
		return rawWith(base.ProtoReflect(), mu.path, mu.raw)
	}
	c := proto.Clone(base).ProtoReflect()
	cur := c
	for _, f := range mu.path[:len(mu.path)-1] {
		if f.IsList() {
			cur = cur.Mutable(f).List().Get(0).Message()
		} else {
			cur = cur.Mutable(f).Message()
		}
	}
	f := mu.path[len(mu.path)-1]
	if f.IsList() {
		l := cur.Mutable(f).List()
		l.Truncate(0)
		l.Append(mu.value)
	} else {
		cur.Set(f, mu.value)
	}
	return proto.Marshal(c.Interface())
}

// rawWith marshals m with the field at path replaced by a length-delimited
// field carrying leaf, nesting through the sub-messages on the way.
func rawWith(m protoreflect.Message, path []protoreflect.FieldDescriptor, leaf []byte) ([]byte, error) {
	f := path[0]
	inner := leaf
	if len(path) > 1 {
		sub := m.Get(f)
		var sm protoreflect.Message
		if f.IsList() {
			sm = sub.List().Get(0).Message()
		} else {
			sm = sub.Message()
		}
		var err error
		if inner, err = rawWith(sm, path[1:], leaf); err != nil {
			return nil, err
		}
	}
	c := proto.Clone(m.Interface()).ProtoReflect()
	c.Clear(f)
	out, err := proto.Marshal(c.Interface())
	if err != nil {
		return nil, err
	}
	out = protowire.AppendTag(out, f.Number(), protowire.BytesType)
	return protowire.AppendBytes(out, inner), nil
}

// countMax holds the documented maxima of counts ("Service/Method field"),
// as docs/LIMITS.md lists them: the maximum must be accepted, one more
// refused naming the field. Durations need no entry: every one is checked
// against MaxDurationMs (the lock service's against its 1 hour).
var countMax = func() map[string]int64 {
	m := map[string]int64{
		"KVService/Keys batch_size":                10_000,
		"ObjectStoreService/List batch_size":       1000,
		"StreamService/Fetch batch":                10_000,
		"CollectionsService/QueuePop max_messages": 1000,
		"CollectionsService/QueuePeek count":       1000,
		"CollectionsService/SRandMember count":     100_000,
	}
	for _, list := range []string{"KVService/ListBuckets", "StreamService/ListStreams", "StreamService/ListConsumers",
		"CollectionsService/ListStores", "SketchService/ListSketches", "ObjectStoreService/ListStores", "CacheService/ListPolicies"} {
		m[list+" page_size"] = 1000
	}
	return m
}()

// refusedBaseline names the methods whose baseline is itself refused, and
// the field it is refused on: its mutations may be refused on that field
// first (an ack of a receipt never handed out cannot consume the fixture's).
var refusedBaseline = map[string]string{
	"CollectionsService/QueueAck": "receipt",
	// A single in-memory node refuses every membership change.
	"ClusterService/AddVoter":           "cluster",
	"ClusterService/AddNonvoter":        "cluster",
	"ClusterService/RemoveServer":       "cluster",
	"ClusterService/TransferLeadership": "cluster",
}

// withRequestID gives every mutation sent its own request id, as the SDK
// does, so that the server's memory of request ids answers no mutated
// request with the baseline's first answer. The lock service's request_id
// names a lease owner and is left as the baseline has it (but Revoke's
// names the call, like every other service's).
func withRequestID(m proto.Message, svc string, sent, i int) proto.Message {
	fd := m.ProtoReflect().Descriptor().Fields().ByName("request_id")
	_, revoke := m.(*lp.LockServiceRevokeRequest)
	if fd == nil || fd.Kind() != protoreflect.StringKind || strings.HasSuffix(svc, "LockService") && !revoke {
		return m
	}
	c := proto.Clone(m)
	c.ProtoReflect().Set(fd, protoreflect.ValueOfString(fmt.Sprintf("hostile-%d-%d", sent, i)))
	return c
}

// unbounded lists the string fields whose length no limit bounds yet, and
// why that is harmless; any other over-long field that is accepted fails.
var unbounded = map[string]string{
	"page_token":  "a resume position, compared and never stored",
	"cursor":      "a resume position, compared and never stored",
	"start_after": "a resume position, compared and never stored",
	"match":       "a glob pattern; its bound comes with the linear matcher (issue 14 item 3)",
}

// mayBlock: methods that may rightly wait (for a lock, a message, an
// event) until the call's deadline; that counts as accepted.
func mayBlock(md protoreflect.MethodDescriptor) bool {
	if md.IsStreamingServer() {
		return true
	}
	switch md.Name() {
	case "QueuePop", "Fetch", "TryAcquire", "MultiTryAcquire":
		return true
	}
	return false
}

// call sends msgs (wire bytes) to md and answers the first response.
func call(cc *grpc.ClientConn, md protoreflect.MethodDescriptor, msgs [][]byte) (proto.Message, error) {
	timeout := 5 * time.Second
	if mayBlock(md) {
		timeout = 300 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, err
	}
	out := mt.New().Interface()
	name := "/" + string(md.Parent().FullName()) + "/" + string(md.Name())
	codec := grpc.ForceCodecV2(rawCodec{})
	if !md.IsStreamingClient() && !md.IsStreamingServer() {
		return out, cc.Invoke(ctx, name, &rawMsg{msgs[0]}, out, codec)
	}
	st, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: md.IsStreamingServer(), ClientStreams: md.IsStreamingClient()}, name, codec)
	if err != nil {
		return nil, err
	}
	for _, b := range msgs {
		if err := st.SendMsg(&rawMsg{b}); err != nil {
			break // the server answered early; RecvMsg says how
		}
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	return out, st.RecvMsg(out)
}

// resultOf finds the common Result of a response (nil when it has none:
// a stream's data message).
// A batch publish succeeds as a whole and answers each message in its own
// ack: the first failed ack is the answer then.
func resultOf(m proto.Message) (ok bool, code, msg string) {
	r := m.ProtoReflect()
	if f := r.Descriptor().Fields().ByName("acks"); f != nil && f.IsList() {
		l := r.Get(f).List()
		for i := 0; i < l.Len(); i++ {
			if ok, code, msg := resultOf(l.Get(i).Message().Interface()); !ok {
				return ok, code, msg
			}
		}
	}
	f := r.Descriptor().Fields().ByName("result")
	if f == nil || !r.Has(f) {
		return true, "", ""
	}
	res := r.Get(f).Message()
	get := func(n protoreflect.Name) protoreflect.Value { return res.Get(res.Descriptor().Fields().ByName(n)) }
	return get("success").Bool(), get("result_code").String(), get("message").String()
}

type fingerprinter struct {
	ctx context.Context
	cc  *grpc.ClientConn
}

// of is the state of the service svc (KV and cache together, as the cache
// evicts KV keys), through its own read API.
func (fp fingerprinter) of(t *testing.T, svc string) []byte {
	t.Helper()
	var buf bytes.Buffer
	opts := proto.MarshalOptions{Deterministic: true}
	put := func(m proto.Message, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("fingerprint (%s): %v: the server stopped serving", svc, err)
		}
		b, err := opts.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	ctx, cc := fp.ctx, fp.cc
	switch svc {
	case "KVService", "CacheService":
		kv := kp.NewKVServiceClient(cc)
		put(kv.ListBuckets(ctx, &kp.KVServiceListBucketsRequest{PageSize: 1000}))
		put(kv.Get(ctx, &kp.KVServiceGetRequest{Bucket: fxBucket, Key: "k"}))
		put(cp.NewCacheServiceClient(cc).ListPolicies(ctx, &cp.CacheServiceListPoliciesRequest{PageSize: 1000}))
	case "StreamService":
		st := sp.NewStreamServiceClient(cc)
		// Every stream's state; the consumers of the one that has them (a
		// consumer made by a mutation belongs to it too).
		put(st.ListStreams(ctx, &sp.StreamServiceListStreamsRequest{PageSize: 1000}))
		put(st.ListConsumers(ctx, &sp.StreamServiceListConsumersRequest{Stream: fxStream, PageSize: 1000}))
	case "CollectionsService":
		col := colp.NewCollectionsServiceClient(cc)
		// Every store's keys and bytes; the queue the queue calls work on.
		put(col.ListStores(ctx, &colp.CollectionsServiceListStoresRequest{PageSize: 1000}))
		put(col.QueueLen(ctx, &colp.CollectionsServiceQueueLenRequest{Queue: fxQueue}))
		// Counts and small values, not contents: an accepted mutation may
		// have stored a megabyte.
		put(col.HLen(ctx, &colp.CollectionsServiceHLenRequest{Store: fxHash, Key: "k"}))
		put(col.HMGet(ctx, &colp.CollectionsServiceHMGetRequest{Store: fxHash, Key: "k", Fields: []string{"f", "n", "x"}}))
		put(col.SCard(ctx, &colp.CollectionsServiceSCardRequest{Store: fxSet, Key: "s"}))
	case "SketchService":
		put(skp.NewSketchServiceClient(cc).ListSketches(ctx, &skp.SketchServiceListSketchesRequest{PageSize: 1000}))
	case "ObjectStoreService":
		ob := op.NewObjectStoreServiceClient(cc)
		put(ob.ListStores(ctx, &op.ObjectStoreServiceListStoresRequest{PageSize: 1000}))
		put(ob.GetInfo(ctx, &op.ObjectStoreServiceGetInfoRequest{Store: fxObjects, Name: "obj"}))
	case "LockService":
		l := lp.NewLockServiceClient(cc)
		for _, k := range []string{"hl-held", "hl-a", "hl-t", "hl-m1", "hl-n1"} {
			put(l.Inspect(ctx, &lp.LockServiceInspectRequest{Key: k}))
		}
	case "AuthService":
		au := ap.NewAuthServiceClient(cc)
		put(au.ListRoles(ctx, &ap.AuthServiceListRolesRequest{}))
		put(au.ListUsers(ctx, &ap.AuthServiceListUsersRequest{}))
	case "ClusterService":
		st, err := clp.NewClusterServiceClient(cc).Status(ctx, &clp.ClusterServiceStatusRequest{})
		put(&clp.ClusterServiceStatusResponse{Members: st.GetMembers(), LeaderId: st.GetLeaderId()}, err)
	default:
		t.Fatalf("no fingerprint for %s", svc)
	}
	return buf.Bytes()
}

func services() []protoreflect.ServiceDescriptor {
	var out []protoreflect.ServiceDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("waymaker.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			out = append(out, fd.Services().Get(i))
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].FullName() < out[j].FullName() })
	return out
}

func TestHostileInput(t *testing.T) {
	maxDur := int64(server.DefaultLimits().MaxDurationMs)
	srv := waymakertest.Start(t)
	cc, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fx := seed(t, ctx, cc)
	base := baselines(fx)
	fp := fingerprinter{ctx: ctx, cc: cc}

	svcs := services()
	if len(svcs) != 9 {
		t.Fatalf("found %d services in waymaker.v1, want 9 (a service without a fingerprint would go unchecked)", len(svcs))
	}
	used := map[string]bool{}
	var sent, refused, blockedN int
	var accepted []string // over-long or unknown values a handler let through
	start := time.Now()
	for _, sd := range svcs {
		svc := string(sd.Name())
		svcStart, svcSent, svcBlocked := time.Now(), sent, blockedN
		var cur []byte // the service's fingerprint, nil when not known
		for i := 0; i < sd.Methods().Len(); i++ {
			md := sd.Methods().Get(i)
			key := svc + "/" + string(md.Name())
			var keys []string
			for k := range base {
				if k == key || strings.HasPrefix(k, key+"#") {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			if len(keys) == 0 {
				t.Errorf("%s: no baseline request: add one to baselines()", key)
				continue
			}
			for _, k := range keys {
				used[k] = true
				msgs := base[k]
				if msgs[0].ProtoReflect().Descriptor().FullName() != md.Input().FullName() {
					t.Fatalf("%s: baseline is a %s, want a %s", k, msgs[0].ProtoReflect().Descriptor().FullName(), md.Input().FullName())
				}
				// A client stream's messages are mutated one message at a time.
				type target struct {
					at int
					mu mutation
				}
				var targets []target
				for at, m := range msgs {
					for _, mu := range mutations(key, m.ProtoReflect(), nil, maxDur) {
						targets = append(targets, target{at, mu})
					}
				}
				for _, tg := range targets {
					mu := tg.mu
					wire := make([][]byte, len(msgs))
					for i, m := range msgs {
						if i == 0 {
							m = fresh(m, sent) // a create names a resource not made yet
						}
						m = withRequestID(m, svc, sent, i)
						var err error
						if i == tg.at {
							wire[i], err = apply(m, mu)
						} else {
							wire[i], err = proto.Marshal(m)
						}
						if err != nil {
							t.Fatalf("%s %s=%s: %v", k, mu.field(), mu.label, err)
						}
					}
					what := fmt.Sprintf("%s %s=%s", k, mu.field(), mu.label)
					if len(msgs) > 1 {
						what = fmt.Sprintf("%s [%d].%s=%s", k, tg.at, mu.field(), mu.label)
					}
					if cur == nil {
						cur = fp.of(t, svc)
					}
					resp, err := call(cc, md, wire)
					sent++
					ok, code, msg := true, "", ""
					blocked := false
					switch st, _ := status.FromError(err); {
					case err == nil:
						ok, code, msg = resultOf(resp)
					case errors.Is(err, context.DeadlineExceeded) || st.Code() == codes.DeadlineExceeded,
						errors.Is(err, io.EOF) && md.IsStreamingServer(): // it ended the stream as the deadline came
						if !mayBlock(md) {
							t.Errorf("%s: no answer within 5 s", what)
						}
						blocked = true
						blockedN++
					case mu.expect == refusedRaw && st.Code() == codes.Internal && strings.Contains(st.Message(), "unmarshal"):
						ok, code = false, "grpc-decode" // refused by the server's decoder
					default:
						t.Errorf("%s: gRPC error %v", what, err)
						continue
					}
					named := code == "invalid_argument" && (strings.Contains(msg, mu.leaf()) || refusedBaseline[k] != "" && strings.HasPrefix(msg, refusedBaseline[k]+":"))
					switch {
					case code == "internal":
						t.Errorf("%s: answered internal: %s", what, msg)
					case code == "invalid_argument" && !named && mu.expect != mustNotBlame:
						t.Errorf("%s: invalid_argument not naming %s: %q", what, mu.leaf(), msg)
					}
					switch mu.expect {
					case mustRefuse:
						if !named {
							t.Errorf("%s: answered %v %q %q, want invalid_argument naming %s", what, ok, code, msg, mu.leaf())
						}
					case mustNotBlame:
						if named {
							t.Errorf("%s: the documented maximum was refused: %q", what, msg)
						}
					case refusedRaw:
						if ok && !blocked {
							t.Errorf("%s: accepted a string that is not UTF-8", what)
						}
					case anyClean:
						if ok && !blocked && (mu.label == "70KiB" || mu.label == "1MiB+1") {
							if why, known := unbounded[mu.leaf()]; known {
								accepted = append(accepted, what+" ("+why+")")
							} else {
								t.Errorf("%s: accepted; every string and byte field has a documented bound (docs/LIMITS.md)", what)
							}
						}
					}
					if ok || blocked {
						cur = nil // accepted: the state may have changed
						continue
					}
					refused++
					if after := fp.of(t, svc); !bytes.Equal(cur, after) {
						// Time may have moved the state (a lease or a
						// visibility timeout ran out): send the request once
						// more between two fresh fingerprints.
						cur = after
						_, _ = call(cc, md, wire)
						if after = fp.of(t, svc); !bytes.Equal(cur, after) {
							t.Errorf("%s: refused (%s %q) but the %s state changed", what, code, msg, svc)
						}
						cur = after
					}
				}
			}
		}
		t.Logf("%s: %d requests (%d waited out their deadline) in %v", svc, sent-svcSent, blockedN-svcBlocked, time.Since(svcStart).Round(time.Millisecond))
	}
	for k := range base {
		if !used[k] {
			t.Errorf("baseline %s names no method of the services", k)
		}
	}
	sort.Strings(accepted)
	t.Logf("%d hostile requests, %d refused, in %v; over-long values accepted where no bound applies yet (%d):\n%s",
		sent, refused, time.Since(start).Round(time.Millisecond), len(accepted), strings.Join(accepted, "\n"))
}

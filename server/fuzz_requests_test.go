package server

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/api"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// The request fuzzers drive every unary handler of one service with
// arbitrary request bytes, straight through its validation into a real FSM
// (no raft, no network: tens of thousands of requests a second), and check
// what a hostile client must never get:
//
//   - a panic, or an "internal" answer;
//   - an invalid_argument that does not name a field ("field: rule");
//   - an invalid_argument after which the state differs (a refused request
//     changes nothing).
//
// Run one for real with, for example:
//
//	go test -run '^$' -fuzz '^FuzzKVRequests$' -fuzztime 1000000x .
//
// CI runs their seeds (and committed corpus) as ordinary tests.

// registrar captures the services registerSubsystems plugs in.
type registrar map[string]registered

type registered struct {
	desc *grpc.ServiceDesc
	impl any
}

func (r registrar) RegisterService(d *grpc.ServiceDesc, impl any) {
	r[d.ServiceName] = registered{d, impl}
}

// directNode applies proposals to the FSM at once, as a one-node raft does
// after commit, on a clock that moves forward with every command.
type directNode struct {
	mu  sync.Mutex
	f   *fsm.FSM
	now int64
}

func (n *directNode) apply(cmd fsm.Command) (any, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.now++
	cmd.AtMs = n.now
	res := n.f.ApplyCommand(cmd)
	if err, ok := res.(error); ok {
		return nil, err
	}
	return res, nil
}

func (n *directNode) Propose(_ context.Context, sub string, op uint16, payload []byte) (any, error) {
	return n.apply(fsm.Command{Subsystem: sub, Op: op, Payload: payload})
}

func (n *directNode) ProposeOnce(_ context.Context, sub string, op uint16, rid string, payload []byte) (any, error) {
	return n.apply(fsm.Command{Subsystem: sub, Op: op, RequestID: rid, Payload: payload})
}

func (n *directNode) ProposeCommand(_ context.Context, cmd fsm.Command) (any, error) {
	return n.apply(cmd)
}

func (n *directNode) digest(t testing.TB) [32]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	d, err := n.f.StateDigest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type requestHarness struct {
	node    *directNode
	svc     registered
	methods []grpc.MethodDesc
	inputs  []protoreflect.MessageType
}

// newRequestHarness builds every subsystem on a direct node and returns
// the service named (e.g. "waymaker.v1.KVService") with fixtures: bucket
// "b", stream "s" on "s.>", hash store "h", set store "st", queue "q",
// object store "o".
func newRequestHarness(t testing.TB, service string, stopping <-chan struct{}) *requestHarness {
	t.Helper()
	f := fsm.New(zap.NewNop())
	node := &directNode{f: f}
	reg := registrar{}
	// Small sketches: every exec digests the whole state twice, and the
	// size limit is checked the same way at 1 MiB as at 64.
	limits := api.DefaultLimits()
	limits.MaxSketchSize = 1 << 20
	d := api.Deps{Node: node, Remembered: f.Remembered, Limits: limits, Logger: zap.NewNop(), Stopping: stopping}
	if err := registerSubsystems(f, reg, d, nil); err != nil {
		t.Fatal(err)
	}
	h := &requestHarness{node: node, svc: reg[service]}
	if h.svc.desc == nil {
		t.Fatalf("no service %s", service)
	}
	sd, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h.svc.desc.Methods {
		md := sd.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(m.MethodName))
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
		if err != nil {
			t.Fatal(err)
		}
		h.methods = append(h.methods, m)
		h.inputs = append(h.inputs, mt)
	}
	h.fixtures(t, reg)
	return h
}

func (h *requestHarness) fixtures(t testing.TB, reg registrar) {
	t.Helper()
	for _, c := range []struct{ service, method, text string }{
		{"waymaker.v1.KVService", "CreateBucket", `{"config":{"name":"b","history":3}}`},
		{"waymaker.v1.StreamService", "CreateStream", `{"config":{"name":"s","subjects":["s.>"]}}`},
		{"waymaker.v1.CollectionsService", "CreateStore", `{"config":{"name":"h","hash":{}}}`},
		{"waymaker.v1.CollectionsService", "CreateStore", `{"config":{"name":"st","set":{}}}`},
		{"waymaker.v1.CollectionsService", "CreateStore", `{"config":{"name":"q","queue":{}}}`},
		{"waymaker.v1.ObjectStoreService", "CreateStore", `{"config":{"name":"o"}}`},
	} {
		r := reg[c.service]
		res, ok := callJSON(t, r, c.method, c.text)
		if !ok || !res.GetSuccess() {
			t.Fatalf("fixture %s.%s %s: %v", c.service, c.method, c.text, res)
		}
	}
}

// seeds adds, per method, an empty request and one naming the fixtures.
func (h *requestHarness) seeds(f *testing.F) {
	for i, mt := range h.inputs {
		f.Add(uint8(i), []byte{})
		m := mt.New()
		fill(m, 0)
		b, err := proto.Marshal(m.Interface())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
}

// fill sets the string fields a request names resources with to the
// fixtures' names, and small positive numbers elsewhere.
func fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsList() || fd.IsMap() || fd.ContainingOneof() != nil {
			continue
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(fixtureName(string(fd.Name()))))
		case protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes([]byte("v")))
		case protoreflect.Int64Kind, protoreflect.Int32Kind, protoreflect.Uint64Kind, protoreflect.Uint32Kind:
			if strings.HasSuffix(string(fd.Name()), "_ms") {
				continue
			}
			switch fd.Kind() {
			case protoreflect.Int64Kind:
				m.Set(fd, protoreflect.ValueOfInt64(1))
			case protoreflect.Int32Kind:
				m.Set(fd, protoreflect.ValueOfInt32(1))
			case protoreflect.Uint64Kind:
				m.Set(fd, protoreflect.ValueOfUint64(1))
			default:
				m.Set(fd, protoreflect.ValueOfUint32(1))
			}
		case protoreflect.MessageKind:
			if depth < 2 && fd.Message().FullName() != "waymaker.v1.Result" {
				fill(m.Mutable(fd).Message(), depth+1)
			}
		}
	}
}

func fixtureName(field string) string {
	switch field {
	case "bucket":
		return "b"
	case "stream":
		return "s"
	case "subject", "filter_subject":
		return "s.x"
	case "store", "name":
		return "h"
	case "queue":
		return "q"
	case "key", "field", "member":
		return "k"
	case "request_id":
		return "fuzz-1"
	}
	return "x"
}

// run sends one request and checks what came back.
func (h *requestHarness) run(t *testing.T, method uint8, data []byte) {
	i := int(method) % len(h.methods)
	md := h.methods[i]
	msg := h.inputs[i].New().Interface()
	if proto.Unmarshal(data, msg) != nil {
		return // gRPC itself refuses what does not decode
	}
	before := h.node.digest(t)
	res := invoke(t, h.svc, md, msg)
	switch code := res.GetResultCode(); code {
	case "internal":
		t.Fatalf("%s(%v) answered internal: %s", md.MethodName, msg, res.GetMessage())
	case "invalid_argument":
		field, rule, ok := strings.Cut(res.GetMessage(), ": ")
		if !ok || field == "" || rule == "" {
			t.Fatalf("%s(%v): invalid_argument %q names no field", md.MethodName, msg, res.GetMessage())
		}
		if after := h.node.digest(t); after != before {
			t.Fatalf("%s(%v) was refused (%s) but changed the state", md.MethodName, msg, res.GetMessage())
		}
	}
}

// invoke calls a unary handler with msg, bounded so that a blocking call
// (a pop or fetch with a wait) ends quickly.
func invoke(t testing.TB, r registered, md grpc.MethodDesc, msg proto.Message) *commonpb.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	dec := func(v any) error {
		proto.Merge(v.(proto.Message), msg)
		return nil
	}
	resp, err := md.Handler(r.impl, ctx, dec, nil)
	if err != nil {
		t.Fatalf("%s: gRPC error %v (only transport failures are gRPC errors)", md.MethodName, err)
	}
	res, ok := resp.(interface{ GetResult() *commonpb.Result })
	if !ok {
		t.Fatalf("%s answered a %T", md.MethodName, resp)
	}
	return res.GetResult()
}

func callJSON(t testing.TB, r registered, method, text string) (*commonpb.Result, bool) {
	t.Helper()
	for _, md := range r.desc.Methods {
		if md.MethodName != method {
			continue
		}
		sd, _ := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(r.desc.ServiceName))
		in := sd.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(method)).Input()
		mt, _ := protoregistry.GlobalTypes.FindMessageByName(in.FullName())
		msg := mt.New().Interface()
		if err := protojsonUnmarshal(text, msg); err != nil {
			t.Fatalf("fixture %s: %v", text, err)
		}
		return invoke(t, r, md, msg), true
	}
	return nil, false
}

func fuzzService(f *testing.F, service string) {
	stopping := make(chan struct{})
	f.Cleanup(func() { close(stopping) })
	h := newRequestHarness(f, service, stopping)
	h.seeds(f)
	var (
		mu    sync.Mutex
		execs int
	)
	f.Fuzz(func(t *testing.T, method uint8, data []byte) {
		mu.Lock()
		defer mu.Unlock()
		// A fresh state every so often, so that what the fuzzer created does
		// not grow each exec's digests without bound.
		if execs++; execs%2000 == 0 {
			h = newRequestHarness(t, service, stopping)
		}
		h.run(t, method, data)
	})
}

func FuzzKVRequests(f *testing.F)          { fuzzService(f, "waymaker.v1.KVService") }
func FuzzStreamRequests(f *testing.F)      { fuzzService(f, "waymaker.v1.StreamService") }
func FuzzCollectionsRequests(f *testing.F) { fuzzService(f, "waymaker.v1.CollectionsService") }
func FuzzSketchRequests(f *testing.F)      { fuzzService(f, "waymaker.v1.SketchService") }
func FuzzObjectStoreRequests(f *testing.F) { fuzzService(f, "waymaker.v1.ObjectStoreService") }
func FuzzCacheRequests(f *testing.F)       { fuzzService(f, "waymaker.v1.CacheService") }
func FuzzLockRequests(f *testing.F)        { fuzzService(f, "waymaker.v1.LockService") }

func protojsonUnmarshal(text string, m proto.Message) error {
	return protojson.Unmarshal([]byte(text), m)
}

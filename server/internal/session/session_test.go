package session

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const getMethod = "/waymaker.v1.KVService/Get"

// fakeKV answers Get with the key as the value; the key "block" waits
// until the call's context ends.
type fakeKV struct {
	kvpb.UnimplementedKVServiceServer
	blocked chan struct{}
}

func (f *fakeKV) Get(ctx context.Context, req *kvpb.KVServiceGetRequest) (*kvpb.KVServiceGetResponse, error) {
	if req.GetKey() == "block" {
		select {
		case f.blocked <- struct{}{}:
		case <-ctx.Done():
		}
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &kvpb.KVServiceGetResponse{Result: &commonpb.Result{Success: true}, Entry: &kvpb.KVEntry{Key: req.GetKey(), Value: []byte(req.GetKey())}}, nil
}

// seen is what the server's unary interceptor saw of each call.
type seen struct {
	mu      sync.Mutex
	methods []string // info.FullMethod
	streams []string // grpc.Method(ctx)
}

// interceptor records every call, and refuses one whose metadata carries
// "deny", as an authenticating interceptor would.
func (s *seen) interceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	m, _ := grpc.Method(ctx)
	s.mu.Lock()
	s.methods = append(s.methods, info.FullMethod)
	s.streams = append(s.streams, m)
	s.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get("deny")) > 0 {
		return nil, status.Error(codes.PermissionDenied, "test: denied")
	}
	return next(ctx, req)
}

type testServer struct {
	kv       *fakeKV
	seen     *seen
	client   sessionpb.SessionServiceClient
	stopping chan struct{}
	svc      *Service
}

func serve(t *testing.T, window int, opts ...grpc.ServerOption) *testServer {
	t.Helper()
	return serveWith(t, Config{Window: window}, opts...)
}

// serveWith is serve with a whole Config; its Stopping is the server's.
func serveWith(t *testing.T, cfg Config, opts ...grpc.ServerOption) *testServer {
	t.Helper()
	ts := &testServer{kv: &fakeKV{blocked: make(chan struct{}, 16)}, seen: &seen{}, stopping: make(chan struct{})}
	g := grpc.NewServer(append([]grpc.ServerOption{grpc.ChainUnaryInterceptor(ts.seen.interceptor)}, opts...)...)
	reg := NewRegistrar(g)
	kvpb.RegisterKVServiceServer(reg, ts.kv)
	cfg.Stopping = ts.stopping
	ts.svc = New(reg, cfg)
	ts.svc.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.Serve(lis)
	}()
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cc.Close()
		g.Stop()
		<-done
	})
	ts.client = sessionpb.NewSessionServiceClient(cc)
	return ts
}

// open calls Open and opens a Call stream that ends with the test.
func (ts *testServer) open(t *testing.T) sessionpb.SessionService_CallClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	if r, err := ts.client.Open(ctx, &sessionpb.SessionServiceOpenRequest{}); err != nil || !r.GetResult().GetSuccess() || r.GetWindow() == 0 {
		t.Fatalf("Open: %v, %v", r, err)
	}
	st, err := ts.client.Call(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func get(id uint64, key string) *sessionpb.SessionServiceCallRequest {
	b, _ := proto.Marshal(&kvpb.KVServiceGetRequest{Bucket: "b", Key: key})
	return &sessionpb.SessionServiceCallRequest{CallId: id, Method: getMethod, Payload: b}
}

func recv(t *testing.T, st sessionpb.SessionService_CallClient) *sessionpb.SessionServiceCallResponse {
	t.Helper()
	r, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestEnvelopeReachesTheUnaryHandlerBehindTheInterceptors: an envelope is
// answered by the method's own handler, and the server's interceptor chain
// sees it under the method's name, with its metadata.
func TestEnvelopeReachesTheUnaryHandlerBehindTheInterceptors(t *testing.T) {
	ts := serve(t, 8)
	st := ts.open(t)
	if err := st.Send(get(7, "k1")); err != nil {
		t.Fatal(err)
	}
	r := recv(t, st)
	var resp kvpb.KVServiceGetResponse
	if r.GetCallId() != 7 || r.GetStatus() != nil || proto.Unmarshal(r.GetPayload(), &resp) != nil || string(resp.GetEntry().GetValue()) != "k1" {
		t.Fatalf("answer %v, want call 7 with the entry of k1", r)
	}
	ts.seen.mu.Lock()
	methods, streams := ts.seen.methods, ts.seen.streams
	ts.seen.mu.Unlock()
	// Open passed the chain too.
	if len(methods) != 2 || methods[1] != getMethod || streams[1] != getMethod {
		t.Fatalf("the interceptor saw %v (grpc.Method %v), want Open then %s", methods, streams, getMethod)
	}

	denied := get(8, "k2")
	denied.Metadata = []*sessionpb.SessionMetadata{{Key: "deny", Values: [][]byte{[]byte("1")}}}
	if err := st.Send(denied); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, st); r.GetCallId() != 8 || codes.Code(r.GetStatus().GetCode()) != codes.PermissionDenied {
		t.Fatalf("a call the interceptor refuses answered %v, want PermissionDenied", r)
	}
}

// TestBadEnvelopesGetClearErrors: each bad call is answered with a status
// naming what is wrong, and the stream goes on serving.
func TestBadEnvelopesGetClearErrors(t *testing.T) {
	ts := serve(t, 8)
	st := ts.open(t)
	bad := []struct {
		f    *sessionpb.SessionServiceCallRequest
		code codes.Code
	}{
		{&sessionpb.SessionServiceCallRequest{CallId: 1, Method: "/waymaker.v1.KVService/Nope"}, codes.Unimplemented},
		{&sessionpb.SessionServiceCallRequest{CallId: 2, Method: "Get"}, codes.Unimplemented},
		{&sessionpb.SessionServiceCallRequest{CallId: 3, Method: getMethod, Payload: []byte{0xff, 0xff, 0xff}}, codes.Internal},
		{&sessionpb.SessionServiceCallRequest{CallId: 4, Method: getMethod, TimeoutMs: -1}, codes.InvalidArgument},
		{&sessionpb.SessionServiceCallRequest{CallId: 5, Method: getMethod, Metadata: []*sessionpb.SessionMetadata{{Key: "grpc-timeout"}}}, codes.InvalidArgument},
		{&sessionpb.SessionServiceCallRequest{CallId: 6, Method: getMethod, Metadata: []*sessionpb.SessionMetadata{{Key: "Upper"}}}, codes.InvalidArgument},
	}
	for _, b := range bad {
		if err := st.Send(b.f); err != nil {
			t.Fatal(err)
		}
		r := recv(t, st)
		if r.GetCallId() != b.f.GetCallId() || codes.Code(r.GetStatus().GetCode()) != b.code || r.GetStatus().GetMessage() == "" {
			t.Errorf("call %d (%s): answered %v, want %v with a message", b.f.GetCallId(), b.f.GetMethod(), r, b.code)
		}
	}
	if err := st.Send(get(9, "ok")); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, st); r.GetCallId() != 9 || r.GetStatus() != nil {
		t.Fatalf("a good call after bad ones answered %v", r)
	}
}

// TestProtocolErrorsEndTheStream: a call id of 0, or one already in
// flight, ends the stream with InvalidArgument naming it.
func TestProtocolErrorsEndTheStream(t *testing.T) {
	ts := serve(t, 8)
	for _, frames := range [][]*sessionpb.SessionServiceCallRequest{
		{get(0, "x")},
		{get(1, "block"), get(1, "block")},
	} {
		st := ts.open(t)
		for _, f := range frames {
			if err := st.Send(f); err != nil {
				t.Fatal(err)
			}
		}
		for {
			_, err := st.Recv()
			if err == nil {
				continue
			}
			if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() == "" {
				t.Fatalf("after %v: %v, want InvalidArgument", frames, err)
			}
			break
		}
	}
}

func TestCallBeforeOpenIsRefused(t *testing.T) {
	ts := serve(t, 8)
	st, err := ts.client.Call(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Call before any Open: %v, want FailedPrecondition", err)
	}
}

// TestWindowAndCancel: calls past the window are answered
// ResourceExhausted at once, without running; a cancel frame ends a
// waiting call, whose slot then takes a new call.
func TestWindowAndCancel(t *testing.T) {
	ts := serve(t, 2)
	st := ts.open(t)
	for id := uint64(1); id <= 2; id++ {
		if err := st.Send(get(id, "block")); err != nil {
			t.Fatal(err)
		}
		<-ts.kv.blocked
	}
	if err := st.Send(get(3, "k")); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, st); r.GetCallId() != 3 || codes.Code(r.GetStatus().GetCode()) != codes.ResourceExhausted {
		t.Fatalf("a call past the window answered %v, want ResourceExhausted", r)
	}
	if err := st.Send(&sessionpb.SessionServiceCallRequest{CallId: 1, Cancel: true}); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, st); r.GetCallId() != 1 || codes.Code(r.GetStatus().GetCode()) != codes.Canceled {
		t.Fatalf("a cancelled call answered %v, want Canceled", r)
	}
	if err := st.Send(get(4, "k4")); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, st); r.GetCallId() != 4 || r.GetStatus() != nil {
		t.Fatalf("a call in the freed slot answered %v", r)
	}
}

// TestGoaway: a stopping server tells its streams (call id 0,
// Unavailable), still answers what was sent, and ends the stream once the
// client has closed its side.
func TestGoaway(t *testing.T) {
	ts := serve(t, 8)
	st := ts.open(t)
	if err := st.Send(get(1, "block")); err != nil {
		t.Fatal(err)
	}
	<-ts.kv.blocked
	if err := st.Send(get(2, "k")); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, st); r.GetCallId() != 2 {
		t.Fatalf("answer %v, want call 2", r)
	}
	close(ts.stopping)
	if r := recv(t, st); r.GetCallId() != 0 || codes.Code(r.GetStatus().GetCode()) != codes.Unavailable {
		t.Fatalf("after stopping: %v, want a goaway", r)
	}
	if err := st.Send(&sessionpb.SessionServiceCallRequest{CallId: 1, Cancel: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, st); r.GetCallId() != 1 {
		t.Fatalf("answer %v, want call 1", r)
	}
	if _, err := st.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream end after goaway: %v, want EOF", err)
	}
}

// FuzzDispatch: whatever an envelope carries, dispatch answers a response
// or a status with a message, and never panics.
func FuzzDispatch(f *testing.F) {
	b, _ := proto.Marshal(&kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"})
	f.Add(getMethod, b, int64(0), "waymaker-read", []byte("stale"))
	f.Add("/waymaker.v1.KVService/Put", []byte{0x0a, 0xff}, int64(-5), "", []byte(nil))
	f.Add("", []byte{}, int64(1<<62), ":path", []byte("x"))
	f.Add("/x/y/z", []byte{0x12, 0x01}, int64(1), "a-bin", []byte{0, 1, 2})
	s := New(NewRegistrar(grpc.NewServer()), Config{})
	kvpb.RegisterKVServiceServer(s.reg, &fakeKV{})
	f.Fuzz(func(t *testing.T, method string, payload []byte, timeout int64, key string, value []byte) {
		req := &sessionpb.SessionServiceCallRequest{CallId: 1, Method: method, Payload: payload, TimeoutMs: timeout}
		if key != "" || value != nil {
			req.Metadata = []*sessionpb.SessionMetadata{{Key: key, Values: [][]byte{value}}}
		}
		// Round-trip the frame through its codec, as it travels.
		wire, err := proto.Marshal(req)
		if err != nil {
			return // not a frame a client can send (invalid UTF-8 in a string)
		}
		var frame sessionpb.SessionServiceCallRequest
		if err := proto.Unmarshal(wire, &frame); err != nil {
			t.Fatalf("a marshalled frame does not unmarshal: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		out, err := s.dispatch(ctx, nil, nil, &frame)
		if err != nil {
			st, ok := status.FromError(err)
			if !ok || st.Code() == codes.OK || st.Message() == "" {
				t.Fatalf("dispatch error %v is not a status with a message", err)
			}
			return
		}
		var resp kvpb.KVServiceGetResponse
		if err := proto.Unmarshal(out, &resp); err != nil {
			t.Fatalf("dispatch answered bytes that are not the response: %v", err)
		}
	})
}

// streamEnded is a context key: the value is set once the stream's Call
// handler has returned.
type streamEnded struct{}

type endedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s endedStream) Context() context.Context { return s.ctx }

// TestNoCallStartsAfterTheStreamEnds: a client that sends a burst of calls
// and goes away ends its stream while frames are still buffered on the
// server. None of them may start a handler once Call has returned: the
// server's Stop waits for Call, not for goroutines it left behind, and
// moves on to shutting down what handlers use.
func TestNoCallStartsAfterTheStreamEnds(t *testing.T) {
	var late atomic.Int64
	mark := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		var ended atomic.Bool
		err := h(srv, endedStream{ss, context.WithValue(ss.Context(), streamEnded{}, &ended)})
		ended.Store(true)
		return err
	}
	check := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if e, ok := ctx.Value(streamEnded{}).(*atomic.Bool); ok && e.Load() {
			late.Add(1)
		}
		return next(ctx, req)
	}
	ts := serve(t, 128, grpc.ChainStreamInterceptor(mark), grpc.ChainUnaryInterceptor(check))
	if r, err := ts.client.Open(context.Background(), &sessionpb.SessionServiceOpenRequest{}); err != nil || !r.GetResult().GetSuccess() {
		t.Fatalf("Open: %v, %v", r, err)
	}
	for range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := ts.client.Call(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for id := uint64(1); id <= 64; id++ {
			if err := st.Send(get(id, "k")); err != nil {
				break
			}
		}
		// The first answer is back: the writer is sending when the client
		// goes.
		_, _ = st.Recv()
		cancel()
	}
	if n := late.Load(); n > 0 {
		t.Fatalf("%d calls started after their stream's Call had returned", n)
	}
}

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestCallsReuseGoroutines: the calls of a stream run on goroutines that
// outlive them, so a call costs no new goroutine (and no stack grown anew
// through the handler chain) while its stream is busy.
func TestCallsReuseGoroutines(t *testing.T) {
	const calls = 200
	ts := serve(t, 8)
	st := ts.open(t)
	if err := st.Send(get(1, "k")); err != nil {
		t.Fatal(err)
	}
	recv(t, st)
	before := goroutinesCreated()
	for id := uint64(2); id < calls+2; id++ {
		if err := st.Send(get(id, "k")); err != nil {
			t.Fatal(err)
		}
		if r := recv(t, st); r.GetCallId() != id || r.GetStatus() != nil {
			t.Fatalf("call %d answered %v", id, r)
		}
	}
	if n := goroutinesCreated() - before; n > calls/10 {
		t.Fatalf("%d calls in a row started %d goroutines, want few", calls, n)
	}
}

// TestIdleWorkersEnd: the workers a burst of calls started end once they
// have waited WorkerIdle without a call, while the stream stays open, and
// the stream still answers calls after.
func TestIdleWorkersEnd(t *testing.T) {
	const burst = 4
	ts := serveWith(t, Config{Window: 8, WorkerIdle: 20 * time.Millisecond})
	st := ts.open(t)
	for id := uint64(1); id <= burst; id++ {
		if err := st.Send(get(id, "block")); err != nil {
			t.Fatal(err)
		}
	}
	for range burst {
		<-ts.kv.blocked // every call runs at once, each on its own worker
	}
	if n := ts.svc.workers.Load(); n < burst {
		t.Fatalf("%d workers for %d calls in flight", n, burst)
	}
	for id := uint64(1); id <= burst; id++ {
		if err := st.Send(&sessionpb.SessionServiceCallRequest{CallId: id, Cancel: true}); err != nil {
			t.Fatal(err)
		}
	}
	for range burst {
		if r := recv(t, st); codes.Code(r.GetStatus().GetCode()) != codes.Canceled {
			t.Fatalf("cancelled call answered %v", r)
		}
	}
	waitWorkers(t, ts.svc, 0)
	if err := st.Send(get(burst+1, "k")); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, st); r.GetCallId() != burst+1 || r.GetStatus() != nil {
		t.Fatalf("a call after the workers ended answered %v", r)
	}
	waitWorkers(t, ts.svc, 0)
}

// waitWorkers waits, up to 5 s, until svc has want worker goroutines.
func waitWorkers(t *testing.T, svc *Service, want int64) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for svc.workers.Load() != want {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d workers after 5s, want %d", svc.workers.Load(), want)
		}
	}
}

// TestCallTimeoutEndsTheCall: a call's timeout_ms ends its handler's
// context, and the call is answered DeadlineExceeded.
func TestCallTimeoutEndsTheCall(t *testing.T) {
	ts := serve(t, 8)
	st := ts.open(t)
	f := get(1, "block")
	f.TimeoutMs = 20
	if err := st.Send(f); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, st); r.GetCallId() != 1 || codes.Code(r.GetStatus().GetCode()) != codes.DeadlineExceeded {
		t.Fatalf("a call past its timeout answered %v, want DeadlineExceeded", r)
	}
}

package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
)

// The methods of the test service, as a waymaker.v1 service's would be
// named, so the session path carries them. Echo answers its request;
// Block waits until its context ends.
const (
	echoMethod  = "/waymaker.v1.Test/Echo"
	blockMethod = "/waymaker.v1.Test/Block"
	// echoResultMethod answers as a waymaker reply does, with its Result
	// in a field (the message of SessionService/Open serves as one).
	echoResultMethod = "/waymaker.v1.Test/EchoResult"
)

// fakeSessions is a session server written for these tests (the real one
// is the server's internal/session, in another module): it answers Echo
// and Block both as envelopes and as unary calls, and counts each way.
type fakeSessions struct {
	sessionpb.UnimplementedSessionServiceServer
	window int

	opens     atomic.Int32
	refuse    atomic.Bool // Echo answers Unavailable, as a node with no leader does; EchoResult a Result "unavailable", as its read barrier does
	envelopes atomic.Int32
	unary     atomic.Int32
	blocked   chan string // each Block's request, as it starts waiting
	cancelled chan string // each Block's request, as its context ends

	mu       sync.Mutex
	md       []metadata.MD // each envelope's incoming metadata
	timeouts []int64
	streams  []context.CancelFunc // cuts each Call stream
}

func newFakeSessions(window int) *fakeSessions {
	return &fakeSessions{window: window, blocked: make(chan string, 64), cancelled: make(chan string, 64)}
}

func (f *fakeSessions) Open(context.Context, *sessionpb.SessionServiceOpenRequest) (*sessionpb.SessionServiceOpenResponse, error) {
	f.opens.Add(1)
	return &sessionpb.SessionServiceOpenResponse{Result: &commonpb.Result{Success: true}, Window: uint32(f.window), MaxPayloadBytes: 1 << 10}, nil
}

func (f *fakeSessions) Call(st sessionpb.SessionService_CallServer) error {
	ctx, cut := context.WithCancel(st.Context())
	defer cut()
	f.mu.Lock()
	f.streams = append(f.streams, cut)
	f.mu.Unlock()
	var sendMu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	calls := map[uint64]context.CancelFunc{}
	var callsMu sync.Mutex
	frames := make(chan *sessionpb.SessionServiceCallRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			fr, err := st.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case frames <- fr:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		var fr *sessionpb.SessionServiceCallRequest
		select {
		case <-ctx.Done():
			return status.Error(codes.Unavailable, "test: stream cut")
		case err := <-recvErr:
			return err
		case fr = <-frames:
		}
		if fr.GetCancel() {
			callsMu.Lock()
			if c := calls[fr.GetCallId()]; c != nil {
				c()
			}
			callsMu.Unlock()
			continue
		}
		f.envelopes.Add(1)
		md := metadata.MD{}
		for _, e := range fr.GetMetadata() {
			for _, v := range e.GetValues() {
				md.Append(e.GetKey(), string(v))
			}
		}
		f.mu.Lock()
		f.md = append(f.md, md)
		f.timeouts = append(f.timeouts, fr.GetTimeoutMs())
		f.mu.Unlock()
		cctx, cancel := context.WithCancel(ctx)
		callsMu.Lock()
		calls[fr.GetCallId()] = cancel
		callsMu.Unlock()
		wg.Go(func() {
			defer cancel()
			in := new(wrapperspb.StringValue)
			r := &sessionpb.SessionServiceCallResponse{CallId: fr.GetCallId()}
			if err := proto.Unmarshal(fr.GetPayload(), in); err != nil {
				r.Status = &sessionpb.SessionStatus{Code: int32(codes.Internal), Message: err.Error()}
			} else if out, err := f.handle(cctx, fr.GetMethod(), in); err != nil {
				s := status.Convert(err)
				r.Status = &sessionpb.SessionStatus{Code: int32(s.Code()), Message: s.Message()}
			} else {
				r.Payload, _ = proto.Marshal(out)
			}
			callsMu.Lock()
			delete(calls, fr.GetCallId())
			callsMu.Unlock()
			if ctx.Err() != nil {
				return // the stream was cut: no answer, as from a dead server
			}
			sendMu.Lock()
			defer sendMu.Unlock()
			_ = st.Send(r)
		})
	}
}

// cut breaks every open Call stream, as a restarting server does.
func (f *fakeSessions) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.streams {
		c()
	}
}

func (f *fakeSessions) handle(ctx context.Context, method string, in *wrapperspb.StringValue) (proto.Message, error) {
	switch method {
	case echoMethod:
		if f.refuse.Load() {
			return nil, status.Error(codes.Unavailable, "test: no leader to serve this call")
		}
		return &commonpb.Result{Success: true, Message: in.GetValue()}, nil
	case echoResultMethod:
		if f.refuse.Load() {
			return &sessionpb.SessionServiceOpenResponse{Result: &commonpb.Result{ResultCode: CodeUnavailable, Message: "test: this node did not catch up to the leader's read index"}}, nil
		}
		return &sessionpb.SessionServiceOpenResponse{Result: &commonpb.Result{Success: true, Message: in.GetValue()}}, nil
	case blockMethod:
		f.blocked <- in.GetValue()
		<-ctx.Done()
		f.cancelled <- in.GetValue()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return nil, status.Errorf(codes.Unimplemented, "no method %s", method)
}

// testDesc serves Echo and Block as unary calls, for the fallback.
var testDesc = grpc.ServiceDesc{
	ServiceName: "waymaker.v1.Test",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Echo", Handler: unaryTest(echoMethod)},
		{MethodName: "EchoResult", Handler: unaryTest(echoResultMethod)},
		{MethodName: "Block", Handler: unaryTest(blockMethod)},
	},
}

func unaryTest(method string) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.StringValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		f := srv.(*fakeSessions)
		f.unary.Add(1)
		return f.handle(ctx, method, in)
	}
}

// serveSessions serves f (with the session service unless withSessions
// is false) and returns its address.
func serveSessions(t *testing.T, f *fakeSessions, withSessions bool) string {
	t.Helper()
	return serveGRPC(t, func(srv *grpc.Server) {
		srv.RegisterService(&testDesc, f)
		if withSessions {
			sessionpb.RegisterSessionServiceServer(srv, f)
		}
	})
}

// serveGRPC serves what register registers, until the test ends, and
// returns its address.
func serveGRPC(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	register(srv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

func dialSessions(t *testing.T, addr string, opts ...Option) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), []string{addr}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func echo(ctx context.Context, c *Conn, s string) (string, error) {
	out := new(commonpb.Result)
	err := c.Invoke(ctx, echoMethod, wrapperspb.String(s), out)
	return out.GetMessage(), err
}

// awaitSession calls Echo until a call travels as an envelope: the first
// calls go unary while the stream opens in the background.
func awaitSession(t *testing.T, c *Conn, f *fakeSessions) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.envelopes.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no call travelled on a session within 5s")
		}
		// A warm call may land on a stream that broke a moment ago (the
		// break test cuts them all): Unavailable, as on a broken
		// connection; try again.
		if _, err := echo(context.Background(), c, "warm"); err != nil && status.Code(err) != codes.Unavailable {
			var e *Error
			if !errors.As(err, &e) || e.Code != codes.Unavailable.String() {
				t.Fatal(err)
			}
		}
	}
}

// inFlight is how many calls the Conn's open session streams to f have in
// flight.
func inFlight(c *Conn) int {
	n := 0
	c.sessMap.Range(func(_, v any) bool {
		for _, s := range v.(*sessionPool).slots {
			if st := s.st.Load(); st != nil {
				st.mu.Lock()
				n += len(st.calls)
				st.mu.Unlock()
			}
		}
		return true
	})
	return n
}

func TestSessionCarriesUnaryCalls(t *testing.T) {
	f := newFakeSessions(8)
	c := dialSessions(t, serveSessions(t, f, true))
	awaitSession(t, c, f)
	before := f.unary.Load()
	for i := range 50 {
		got, err := echo(context.Background(), c, fmt.Sprint(i))
		if err != nil || got != fmt.Sprint(i) {
			t.Fatalf("echo %d = %q, %v", i, got, err)
		}
	}
	if n := f.unary.Load() - before; n != 0 {
		t.Errorf("%d of 50 calls went unary with a session open and its window free", n)
	}
}

func TestSessionCarriesDeadlineAndMetadata(t *testing.T) {
	f := newFakeSessions(8)
	c := dialSessions(t, serveSessions(t, f, true))
	awaitSession(t, c, f)
	ctx, cancel := context.WithTimeout(StaleRead(context.Background()), 3*time.Second)
	defer cancel()
	if _, err := echo(ctx, c, "x"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	md, timeout := f.md[len(f.md)-1], f.timeouts[len(f.timeouts)-1]
	f.mu.Unlock()
	if v := md.Get(readConsistencyKey); len(v) != 1 || v[0] != "stale" {
		t.Errorf("envelope metadata %s = %q, want [stale]", readConsistencyKey, v)
	}
	if timeout <= 0 || timeout > 3000 {
		t.Errorf("envelope timeout_ms = %d, want in (0, 3000]", timeout)
	}
}

// TestSessionCancelFreesSlot: a call cancelled while the server works on
// it returns at once with the context's error, the server's handler sees
// the cancellation, and its slot of the window is free again: the next
// calls travel on the session, not unary.
func TestSessionCancelFreesSlot(t *testing.T) {
	const window = 2
	f := newFakeSessions(window)
	c := dialSessions(t, serveSessions(t, f, true))
	awaitSession(t, c, f)

	block := func(ctx context.Context, s string) error {
		return c.Invoke(ctx, blockMethod, wrapperspb.String(s), new(commonpb.Result))
	}
	for round := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, window)
		unary := f.unary.Load()
		for i := range window {
			go func() { errs <- block(ctx, fmt.Sprint(round, i)) }()
		}
		for range window {
			select {
			case <-f.blocked:
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: the blocking calls did not reach the server", round)
			}
		}
		if n := f.unary.Load() - unary; n != 0 {
			t.Fatalf("round %d: %d blocking calls went unary: a cancelled call of the round before kept its slot", round, n)
		}
		cancel()
		for range window {
			if err := <-errs; status.Code(err) != codes.Canceled {
				t.Fatalf("round %d: a cancelled call answered %v, want Canceled", round, err)
			}
			select {
			case <-f.cancelled:
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: the server's handler never saw the cancellation", round)
			}
		}
		eventually(t, fmt.Sprintf("round %d: the slots of the cancelled calls are free", round), func() bool { return inFlight(c) == 0 })
	}
}

// TestSessionConcurrentCalls: many goroutines share two streams with a
// small window, so calls overflow to unary too; every answer is its own.
func TestSessionConcurrentCalls(t *testing.T) {
	f := newFakeSessions(4)
	c := dialSessions(t, serveSessions(t, f, true))
	awaitSession(t, c, f)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Go(func() {
			for i := range 50 {
				want := fmt.Sprint(g, "/", i)
				got, err := echo(context.Background(), c, want)
				if err == nil && got != want {
					err = fmt.Errorf("answer %q for request %q", got, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if f.envelopes.Load() < 100 {
		t.Errorf("only %d of 1600 calls travelled as envelopes", f.envelopes.Load())
	}
}

// TestSessionStreamBreakIsUnavailable: a call in flight on a stream that
// breaks fails with Unavailable (its outcome unknown), as a unary call
// whose connection broke does, and later calls go on (unary, then on a
// new stream).
func TestSessionStreamBreakIsUnavailable(t *testing.T) {
	f := newFakeSessions(8)
	c := dialSessions(t, serveSessions(t, f, true))
	awaitSession(t, c, f)
	errc := make(chan error, 1)
	go func() {
		_, err := Call(context.Background(), c, Once, func(ctx context.Context) (doResp, error) {
			r := new(commonpb.Result)
			err := c.Invoke(ctx, blockMethod, wrapperspb.String("b"), r)
			return doResp{r}, err
		})
		errc <- err
	}()
	<-f.blocked
	f.cut()
	var err error
	select {
	case err = <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("the call on the broken stream did not return")
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRPC || e.Code != codes.Unavailable.String() {
		t.Fatalf("call on a broken stream: %v, want an rpc Unavailable *Error", err)
	}
	opens := f.opens.Load()
	f.envelopes.Store(0)
	awaitSession(t, c, f)
	// The broken stream is opened again in the background: wait for it.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for f.opens.Load() <= opens {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("no new stream was opened after the break")
		}
	}
}

// TestSessionUnimplementedFallsBack: against a server without sessions,
// calls go unary and Open is asked once.
func TestSessionUnimplementedFallsBack(t *testing.T) {
	f := newFakeSessions(8)
	c := dialSessions(t, serveSessions(t, f, false))
	for i := range 20 {
		if _, err := echo(context.Background(), c, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.unary.Load(); n != 20 {
		t.Errorf("%d unary calls reached the server, want 20", n)
	}
	eventually(t, "the Conn notes that the server offers no sessions", c.sessions(c.cc).unsupported.Load)
	if n := f.opens.Load(); n != 0 {
		t.Errorf("the server without sessions counted %d opens", n)
	}
}

func TestSessionsOff(t *testing.T) {
	f := newFakeSessions(8)
	c := dialSessions(t, serveSessions(t, f, true), WithSessions(false))
	for i := range 20 {
		if _, err := echo(context.Background(), c, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if f.opens.Load() != 0 || f.unary.Load() != 20 {
		t.Errorf("with sessions off: %d opens and %d unary calls, want 0 and 20", f.opens.Load(), f.unary.Load())
	}
}

// TestSessionCallAfterCloseIsClosed: Close ends the streams (goleak in
// TestMain checks their goroutines), and a call after it answers ErrClosed.
func TestSessionCallAfterCloseIsClosed(t *testing.T) {
	f := newFakeSessions(8)
	c := dialSessions(t, serveSessions(t, f, true))
	awaitSession(t, c, f)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := echo(context.Background(), c, "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
}

// eventually polls cond on a ticker until it holds, failing the test after
// 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("not within 5s: %s", what)
		}
	}
}

// TestSessionLargeRequestGoesUnary: a request above the payload bound the
// server names (1 KiB here) is sent as a unary call, so it cannot hold a
// stream that other calls share.
func TestSessionLargeRequestGoesUnary(t *testing.T) {
	f := newFakeSessions(8)
	c := dialSessions(t, serveSessions(t, f, true))
	awaitSession(t, c, f)
	unary, envelopes := f.unary.Load(), f.envelopes.Load()
	big := strings.Repeat("x", 2<<10)
	if got, err := echo(context.Background(), c, big); err != nil || got != big {
		t.Fatalf("large echo: %d bytes, %v", len(got), err)
	}
	if f.unary.Load() != unary+1 || f.envelopes.Load() != envelopes {
		t.Errorf("a 2 KiB request: %d unary calls and %d envelopes, want 1 and 0", f.unary.Load()-unary, f.envelopes.Load()-envelopes)
	}
}

// TestSessionRetryLeavesNodeThatCannotServe: a node that cannot serve a
// call on a session stream (a follower cut off from its leader) is passed
// over, so the retries of an idempotent call reach another node instead of
// the same stream again and again until the deadline. The server says so
// in either of two shapes: a gRPC Unavailable (its routing found no
// leader), or a reply whose Result is "unavailable" (a handler's read
// barrier gave up).
func TestSessionRetryLeavesNodeThatCannotServe(t *testing.T) {
	for _, method := range []string{echoMethod, echoResultMethod} {
		t.Run(strings.TrimPrefix(method, "/waymaker.v1.Test/"), func(t *testing.T) {
			fs := []*fakeSessions{newFakeSessions(8), newFakeSessions(8)}
			addrs := []string{serveSessions(t, fs[0], true), serveSessions(t, fs[1], true)}
			c, err := Dial(context.Background(), addrs, WithBackoff(Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			p := c.sessions(c.cc)
			eventually(t, "every session slot holds an open stream", func() bool {
				_, _ = echo(context.Background(), c, "warm")
				for _, s := range p.slots {
					if s.st.Load() == nil {
						return false
					}
				}
				return true
			})
			// The node holding the most streams stops serving.
			streams := func(f *fakeSessions) int {
				f.mu.Lock()
				defer f.mu.Unlock()
				return len(f.streams)
			}
			bad, good := fs[0], fs[1]
			if streams(good) > streams(bad) {
				bad, good = good, bad
			}
			bad.refuse.Store(true)
			bad.envelopes.Store(0)
			start := time.Now()
			const calls = 60
			for i := range calls {
				want := fmt.Sprint(i)
				got, err := Call(context.Background(), c, Idempotent, func(ctx context.Context) (doResp, error) {
					if method == echoResultMethod {
						r := new(sessionpb.SessionServiceOpenResponse)
						err := c.Invoke(ctx, method, wrapperspb.String(want), r)
						return doResp{r.GetResult()}, err
					}
					r := new(commonpb.Result)
					err := c.Invoke(ctx, method, wrapperspb.String(want), r)
					return doResp{r}, err
				})
				if err != nil || got.r.GetMessage() != want {
					t.Fatalf("call %d: %q, %v", i, got.r.GetMessage(), err)
				}
			}
			// Each stream on the refusing node may be tried once per pass-over
			// period; without the pass-over, a third or more of the calls would
			// go to it first.
			periods := 1 + int(time.Since(start)/sessionPassOver)
			if n, max := int(bad.envelopes.Load()), len(p.slots)*periods; n > max {
				t.Errorf("the refusing node got %d of %d calls as envelopes, want at most %d (a retry went back to it)", n, calls, max)
			}
		})
	}
}

// TestSessionLateAnswerReachesNoOtherCall: a call that gives up (its
// context ends) leaves its answer still to come; that answer must reach
// no later call, though later calls take their answer channels from a
// pool of channels earlier calls used.
func TestSessionLateAnswerReachesNoOtherCall(t *testing.T) {
	f := newFakeSessions(8)
	c := dialSessions(t, serveSessions(t, f, true))
	awaitSession(t, c, f)
	for round := range 30 {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- c.Invoke(ctx, blockMethod, wrapperspb.String(fmt.Sprint(round)), new(commonpb.Result)) }()
		select {
		case <-f.blocked:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the blocking call did not reach the server", round)
		}
		cancel()
		if err := <-errc; status.Code(err) != codes.Canceled {
			t.Fatalf("round %d: a cancelled call answered %v, want Canceled", round, err)
		}
		// The server's Canceled answer to the blocking call is on its
		// way now: each of these calls must get its own answer.
		for i := range 20 {
			want := fmt.Sprint(round, "/", i)
			if got, err := echo(context.Background(), c, want); err != nil || got != want {
				t.Fatalf("round %d: echo %q answered %q, %v: another call's answer", round, want, got, err)
			}
		}
		select {
		case <-f.cancelled:
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the server's handler never saw the cancellation", round)
		}
	}
}

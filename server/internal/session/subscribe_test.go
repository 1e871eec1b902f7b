package session

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/park"
)

const watchMethod = "/waymaker.v1.KVService/Watch"

// watchKV's Watch sends the number of events its pattern names ("n:5"),
// then waits for its context; "fail" answers NotFound at once.
type watchKV struct {
	kvpb.UnimplementedKVServiceServer
	notes    notify.Notifier[string] // fires the "park" handlers' loops
	stopping chan struct{}
	loops    chan *parkLoop // each "park" handler's loop
	mu       sync.Mutex
	sent     map[string]int // pattern → events sent
	ended    chan string    // pattern, when a handler returns
}

func (f *watchKV) Watch(req *kvpb.KVServiceWatchRequest, st grpc.ServerStreamingServer[kvpb.KVServiceWatchResponse]) error {
	defer func() { f.ended <- req.GetPattern() }()
	if req.GetPattern() == "fail" {
		return status.Error(codes.NotFound, "test: no such bucket")
	}
	if req.GetPattern() == "park" {
		// One event per step: the first at once, then one per fire of "k".
		l := &parkLoop{st: st, w: f.notes.Watch("k"), closed: make(chan struct{})}
		f.loops <- l
		return park.Run(st.Context(), st, f.stopping, l)
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(req.GetPattern(), "n:"))
	for i := 1; i <= n; i++ {
		if err := st.Send(&kvpb.KVServiceWatchResponse{Result: &commonpb.Result{Success: true}, Revision: uint64(i)}); err != nil {
			return err
		}
		f.mu.Lock()
		f.sent[req.GetPattern()]++
		f.mu.Unlock()
	}
	<-st.Context().Done()
	return nil
}

func (f *watchKV) sentFor(p string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent[p]
}

type subServer struct {
	kv     *watchKV
	client sessionpb.SessionServiceClient
	chain  []string   // methods the stream chain saw
	ends   chan error // each subscription's end, as the chain saw it
	mu     sync.Mutex
}

// parkLoop sends one event per step and waits for fires of its waiter.
type parkLoop struct {
	st     grpc.ServerStream
	w      *notify.Waiter[string]
	n      uint64
	stops  int
	closed chan struct{}
}

func (l *parkLoop) Step() (park.Waiter, error) {
	l.n++
	if err := l.st.SendMsg(&kvpb.KVServiceWatchResponse{Result: &commonpb.Result{Success: true}, Revision: l.n}); err != nil {
		return nil, err
	}
	return l.w, nil
}

func (l *parkLoop) Stopping() error {
	l.stops++
	return status.Error(codes.Unavailable, "test: stopping")
}

func (l *parkLoop) Close() {
	l.w.Stop()
	close(l.closed)
}

func serveSub(t *testing.T, maxSubs int) *subServer {
	t.Helper()
	ss := &subServer{kv: &watchKV{sent: map[string]int{}, ended: make(chan string, 64), stopping: make(chan struct{}), loops: make(chan *parkLoop, 8)}, ends: make(chan error, 64)}
	// The chain records each subscription's method and refuses one whose
	// metadata carries "deny", as the server's auth interceptor would.
	chain := func(srv any, st grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		ss.mu.Lock()
		ss.chain = append(ss.chain, info.FullMethod)
		ss.mu.Unlock()
		if md, _ := metadata.FromIncomingContext(st.Context()); len(md.Get("deny")) > 0 {
			return status.Error(codes.PermissionDenied, "test: denied")
		}
		// As the metrics interceptor does: see the end, later when parked.
		err := next(srv, st)
		if !park.AtEnd(st, err, ss.ended) {
			ss.ended(err)
		}
		return err
	}
	g := grpc.NewServer()
	reg := NewRegistrar(g)
	kvpb.RegisterKVServiceServer(reg, ss.kv)
	New(reg, Config{MaxSubscriptions: maxSubs, StreamChain: chain, Stopping: ss.kv.stopping}).Register(g)
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
	ss.client = sessionpb.NewSessionServiceClient(cc)
	return ss
}

func (ss *subServer) open(t *testing.T) sessionpb.SessionService_SubscribeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	st, err := ss.client.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func subscribe(id uint64, pattern string, credit uint32, md ...*sessionpb.SessionMetadata) *sessionpb.SessionServiceSubscribeRequest {
	b, _ := proto.Marshal(&kvpb.KVServiceWatchRequest{Bucket: "b", Pattern: pattern})
	return &sessionpb.SessionServiceSubscribeRequest{SubId: id, Frame: &sessionpb.SessionServiceSubscribeRequest_Subscribe{
		Subscribe: &sessionpb.SessionSubscribe{Method: watchMethod, Payload: b, Credit: credit, Metadata: md}}}
}

func credit(id uint64, n uint32) *sessionpb.SessionServiceSubscribeRequest {
	return &sessionpb.SessionServiceSubscribeRequest{SubId: id, Frame: &sessionpb.SessionServiceSubscribeRequest_Credit{Credit: n}}
}

func cancelSub(id uint64) *sessionpb.SessionServiceSubscribeRequest {
	return &sessionpb.SessionServiceSubscribeRequest{SubId: id, Frame: &sessionpb.SessionServiceSubscribeRequest_Cancel{Cancel: true}}
}

func recvSub(t *testing.T, st sessionpb.SessionService_SubscribeClient) *sessionpb.SessionServiceSubscribeResponse {
	t.Helper()
	r, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func waitEnded(t *testing.T, ss *subServer, pattern string) {
	t.Helper()
	select {
	case p := <-ss.kv.ended:
		if p != pattern {
			t.Fatalf("handler of %q ended, want %q", p, pattern)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the handler of %q did not end", pattern)
	}
}

// A subscription runs the method's own stream handler behind the chain,
// and the events of two subscriptions arrive under their own sub_ids, in
// order.
func TestSubscriptionRunsTheStreamHandlerBehindTheChain(t *testing.T) {
	ss := serveSub(t, 0)
	r, err := ss.client.Open(context.Background(), &sessionpb.SessionServiceOpenRequest{})
	if err != nil || r.GetMaxSubscriptions() != DefaultMaxSubscriptions {
		t.Fatalf("Open = %v, %v; want max_subscriptions %d", r, err, DefaultMaxSubscriptions)
	}
	st := ss.open(t)
	for id, p := range map[uint64]string{1: "n:3", 2: "n:2"} {
		if err := st.Send(subscribe(id, p, 10)); err != nil {
			t.Fatal(err)
		}
	}
	next := map[uint64]uint64{1: 1, 2: 1}
	for range 5 {
		f := recvSub(t, st)
		var ev kvpb.KVServiceWatchResponse
		if f.GetEnd() != nil || proto.Unmarshal(f.GetEvent(), &ev) != nil {
			t.Fatalf("frame %v, want an event", f)
		}
		if ev.GetRevision() != next[f.GetSubId()] {
			t.Fatalf("sub %d: revision %d, want %d", f.GetSubId(), ev.GetRevision(), next[f.GetSubId()])
		}
		next[f.GetSubId()]++
	}
	ss.mu.Lock()
	chain := strings.Join(ss.chain, ",")
	ss.mu.Unlock()
	if chain != watchMethod+","+watchMethod {
		t.Fatalf("the chain saw %q, want the method twice", chain)
	}
}

// The server sends no more events than the credit granted: a reader that
// stopped holds back only its own handler, and more credit lets the rest
// come.
func TestSubscriptionSendsOnlyWhatTheCreditAllows(t *testing.T) {
	ss := serveSub(t, 0)
	st := ss.open(t)
	if err := st.Send(subscribe(1, "n:100", 3)); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(subscribe(2, "n:1", 1)); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]int{}
	for got[1] < 3 || got[2] < 1 {
		got[recvSub(t, st).GetSubId()]++
	}
	// The blocked handler has sent its three and waits; nothing else came.
	if n := ss.kv.sentFor("n:100"); n > 3 {
		t.Fatalf("the handler sent %d events on a credit of 3", n)
	}
	if err := st.Send(credit(1, 97)); err != nil {
		t.Fatal(err)
	}
	for got[1] < 100 {
		f := recvSub(t, st)
		if f.GetSubId() != 1 || f.GetEnd() != nil {
			t.Fatalf("frame %v, want an event of sub 1", f)
		}
		got[1]++
	}
	if n := ss.kv.sentFor("n:100"); n != 100 {
		t.Fatalf("the handler sent %d, want 100", n)
	}
}

// A handler's error is the subscription's end frame, with its status; a
// cancelled subscription's handler ends and its end frame comes.
func TestSubscriptionEndsWithTheHandlersStatus(t *testing.T) {
	ss := serveSub(t, 0)
	st := ss.open(t)
	if err := st.Send(subscribe(1, "fail", 1)); err != nil {
		t.Fatal(err)
	}
	f := recvSub(t, st)
	if f.GetSubId() != 1 || codes.Code(f.GetEnd().GetCode()) != codes.NotFound || !strings.Contains(f.GetEnd().GetMessage(), "no such bucket") {
		t.Fatalf("frame %v, want sub 1 ended NotFound", f)
	}
	waitEnded(t, ss, "fail")

	if err := st.Send(subscribe(2, "n:0", 1)); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(cancelSub(2)); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, ss, "n:0")
	f = recvSub(t, st)
	if f.GetSubId() != 2 || f.GetEnd() == nil {
		t.Fatalf("frame %v, want sub 2's end", f)
	}
	// The sub_id is free again.
	if err := st.Send(subscribe(2, "n:1", 1)); err != nil {
		t.Fatal(err)
	}
	if f := recvSub(t, st); f.GetSubId() != 2 || len(f.GetEvent()) == 0 {
		t.Fatalf("frame %v, want an event of the new sub 2", f)
	}
}

// Bad frames: an unknown method, a refusal by the chain, a zero credit and
// a subscription past the limit end that subscription with a status naming
// the rule; a sub_id 0 or one already live ends the stream.
func TestSubscriptionRefusals(t *testing.T) {
	ss := serveSub(t, 2)
	st := ss.open(t)
	unknown := subscribe(1, "n:1", 1)
	unknown.GetSubscribe().Method = "/waymaker.v1.KVService/Get"
	denied := subscribe(2, "n:1", 1, &sessionpb.SessionMetadata{Key: "deny", Values: [][]byte{[]byte("1")}})
	for _, tc := range []struct {
		f    *sessionpb.SessionServiceSubscribeRequest
		code codes.Code
		msg  string
	}{
		{unknown, codes.Unimplemented, "not a server-streaming method"},
		{denied, codes.PermissionDenied, "denied"},
		{subscribe(3, "n:1", 0), codes.InvalidArgument, "credit must not be 0"},
	} {
		if err := st.Send(tc.f); err != nil {
			t.Fatal(err)
		}
		f := recvSub(t, st)
		if f.GetSubId() != tc.f.GetSubId() || codes.Code(f.GetEnd().GetCode()) != tc.code || !strings.Contains(f.GetEnd().GetMessage(), tc.msg) {
			t.Fatalf("frame %v, want sub %d ended %v (%q)", f, tc.f.GetSubId(), tc.code, tc.msg)
		}
	}
	// Two live, the third past max_subscriptions.
	for id := uint64(10); id < 13; id++ {
		if err := st.Send(subscribe(id, "n:0", 1)); err != nil {
			t.Fatal(err)
		}
	}
	f := recvSub(t, st)
	if f.GetSubId() != 12 || codes.Code(f.GetEnd().GetCode()) != codes.ResourceExhausted || !strings.Contains(f.GetEnd().GetMessage(), "max_subscriptions") {
		t.Fatalf("frame %v, want sub 12 refused ResourceExhausted", f)
	}
	// A live sub_id again breaks the protocol: the stream ends, and with it
	// the live subscriptions' handlers.
	if err := st.Send(subscribe(10, "n:0", 1)); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := st.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "already live") {
			t.Fatalf("stream ended with %v, want InvalidArgument naming the live sub_id", err)
		}
		break
	}
	for range 2 {
		select {
		case <-ss.kv.ended:
		case <-time.After(10 * time.Second):
			t.Fatal("a live subscription's handler outlived its stream")
		}
	}
}

// ended records an end the chain saw (tests that do not read them drop
// those past the buffer).
func (ss *subServer) ended(err error) {
	select {
	case ss.ends <- err:
	default:
	}
}

func (ss *subServer) loop(t *testing.T) *parkLoop {
	t.Helper()
	select {
	case l := <-ss.kv.loops:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no parked handler started")
		return nil
	}
}

func (ss *subServer) end(t *testing.T) error {
	t.Helper()
	select {
	case err := <-ss.ends:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the chain saw no end")
		return nil
	}
}

func waitClosed(t *testing.T, l *parkLoop) {
	t.Helper()
	select {
	case <-l.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the parked loop was not closed")
	}
}

func eventRev(t *testing.T, r *sessionpb.SessionServiceSubscribeResponse) uint64 {
	t.Helper()
	var ev kvpb.KVServiceWatchResponse
	if r.GetEnd() != nil {
		t.Fatalf("sub %d ended (%v), want an event", r.GetSubId(), r.GetEnd())
	}
	if err := proto.Unmarshal(r.GetEvent(), &ev); err != nil {
		t.Fatal(err)
	}
	return ev.GetRevision()
}

// A handler that hands its loop to the subscription returns at once (its
// goroutine is free), yet the subscription goes on: each fire of its
// waiter runs a step whose events arrive in order; the chain sees the end
// only when the subscription really ends, and a cancel ends it and closes
// the loop.
func TestParkedSubscriptionRunsItsLoopOnFires(t *testing.T) {
	ss := serveSub(t, 0)
	st := ss.open(t)
	if err := st.Send(subscribe(1, "park", 16)); err != nil {
		t.Fatal(err)
	}
	l := ss.loop(t)
	waitEnded(t, ss, "park") // the handler returned: nothing waits on its goroutine
	if got := eventRev(t, recvSub(t, st)); got != 1 {
		t.Fatalf("first event %d, want 1", got)
	}
	select {
	case err := <-ss.ends:
		t.Fatalf("the chain saw the parked subscription end (%v) while it is live", err)
	default:
	}
	for want := uint64(2); want <= 4; want++ {
		ss.kv.notes.Fire("k")
		if got := eventRev(t, recvSub(t, st)); got != want {
			t.Fatalf("event after a fire %d, want %d", got, want)
		}
	}
	if err := st.Send(cancelSub(1)); err != nil {
		t.Fatal(err)
	}
	r := recvSub(t, st)
	if r.GetSubId() != 1 || r.GetEnd() == nil {
		t.Fatalf("after cancel got %v, want sub 1's end", r)
	}
	waitClosed(t, l)
	if err := ss.end(t); err != nil {
		t.Fatalf("the chain saw the cancelled subscription end with %v, want nil (as a handler whose ctx ended)", err)
	}
}

// A parked loop is closed when its Subscribe stream ends, and when the
// server stops it runs Stopping, whose status ends the subscription.
func TestParkedSubscriptionEndsWithItsStream(t *testing.T) {
	t.Run("stream closed", func(t *testing.T) {
		ss := serveSub(t, 0)
		st := ss.open(t)
		if err := st.Send(subscribe(1, "park", 16)); err != nil {
			t.Fatal(err)
		}
		l := ss.loop(t)
		recvSub(t, st)
		if err := st.CloseSend(); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, l)
		if err := ss.end(t); status.Code(err) != codes.Canceled {
			t.Fatalf("the chain saw %v, want Canceled", err)
		}
	})
	t.Run("server stopping", func(t *testing.T) {
		ss := serveSub(t, 0)
		st := ss.open(t)
		if err := st.Send(subscribe(1, "park", 16)); err != nil {
			t.Fatal(err)
		}
		l := ss.loop(t)
		recvSub(t, st)
		close(ss.kv.stopping)
		var end *sessionpb.SessionStatus
		for end == nil {
			r := recvSub(t, st)
			if r.GetSubId() == 1 {
				end = r.GetEnd()
			}
		}
		if codes.Code(end.GetCode()) != codes.Unavailable || !strings.Contains(end.GetMessage(), "test: stopping") {
			t.Fatalf("end %v, want the loop's Stopping status", end)
		}
		waitClosed(t, l)
		if l.stops != 1 {
			t.Fatalf("Stopping ran %d times, want 1", l.stops)
		}
	})
}

// A parked loop whose reader has no credit left waits in its step, and
// goes on when credit comes.
func TestParkedSubscriptionWaitsForCredit(t *testing.T) {
	ss := serveSub(t, 0)
	st := ss.open(t)
	if err := st.Send(subscribe(1, "park", 1)); err != nil {
		t.Fatal(err)
	}
	ss.loop(t)
	if got := eventRev(t, recvSub(t, st)); got != 1 {
		t.Fatalf("first event %d, want 1", got)
	}
	ss.kv.notes.Fire("k") // its step waits: no credit
	if err := st.Send(credit(1, 1)); err != nil {
		t.Fatal(err)
	}
	if got := eventRev(t, recvSub(t, st)); got != 2 {
		t.Fatalf("event after the credit %d, want 2", got)
	}
}

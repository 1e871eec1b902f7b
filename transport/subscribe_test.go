package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
)

// fakeSubscribe is a Subscribe server written for these tests (the real
// one is the server's internal/session, in another module). It serves KV
// Watch both as subscriptions and as plain streams, and records what the
// client sends. A Watch whose pattern is "n:K" sends revisions 1..K (as
// its credit allows) and then waits for its end; the test ends it, or
// sends more, through its *fakeSub.
type fakeSubscribe struct {
	*fakeSessions // Open's count; Call
	// maxSubs is Open's max_subscriptions.
	maxSubs uint32
	// noSubscribe makes Subscribe answer Unimplemented though Open offers
	// it, as a proxy that forwards only some methods would.
	noSubscribe bool

	plain atomic.Int32 // Watch streams served plain
	keys  atomic.Int32 // Keys streams (never a subscription)
	// started and cancels (room for 1024 each: the fake waits when they
	// are full) record each subscription as its subscribe frame arrives,
	// and the sub_id of each cancel frame.
	started chan *fakeSub
	cancels chan uint64
	// release lets a "hold" subscription answer its cancel.
	release chan struct{}

	mu      sync.Mutex
	streams []*fakeSubStream // every Subscribe stream, in the order opened
}

type fakeSubStream struct {
	f   *fakeSubscribe
	n   int // index in f.streams
	st  sessionpb.SessionService_SubscribeServer
	ctx context.Context
	cut context.CancelFunc
	// closedSide is closed when the client has closed its side.
	closedSide chan struct{}
	wg         sync.WaitGroup

	sendMu sync.Mutex
	mu     sync.Mutex
	subs   map[uint64]*fakeSub // live
}

// fakeSub is one subscription on a fakeSubStream.
type fakeSub struct {
	s      *fakeSubStream
	id     uint64
	req    *kvpb.KVServiceWatchRequest
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // a credit frame came
	// starved receives a value each time the handler waits for credit.
	starved chan struct{}
	ended   chan struct{} // closed when the handler has returned
	endOnce sync.Once

	mu      sync.Mutex
	credit  int // left
	granted int // in all, the subscribe frame's included
	sent    int // events
}

func newFakeSubscribe(maxSubs uint32) *fakeSubscribe {
	return &fakeSubscribe{fakeSessions: newFakeSessions(8), maxSubs: maxSubs, started: make(chan *fakeSub, 1024), cancels: make(chan uint64, 1024), release: make(chan struct{})}
}

// serveSubscribe serves f's session service (unless withSessions is false)
// and a KV service whose Watch and Keys are served plain.
func serveSubscribe(t *testing.T, f *fakeSubscribe, withSessions bool) string {
	t.Helper()
	return serveGRPC(t, func(srv *grpc.Server) {
		if withSessions {
			sessionpb.RegisterSessionServiceServer(srv, f)
		}
		kvpb.RegisterKVServiceServer(srv, &plainKV{f: f})
	})
}

func (f *fakeSubscribe) Open(ctx context.Context, req *sessionpb.SessionServiceOpenRequest) (*sessionpb.SessionServiceOpenResponse, error) {
	r, err := f.fakeSessions.Open(ctx, req)
	if r != nil {
		r.MaxSubscriptions = f.maxSubs
	}
	return r, err
}

func (f *fakeSubscribe) Subscribe(st sessionpb.SessionService_SubscribeServer) error {
	if f.noSubscribe {
		return status.Error(codes.Unimplemented, "test: unknown method Subscribe")
	}
	ctx, cut := context.WithCancel(st.Context())
	s := &fakeSubStream{f: f, st: st, ctx: ctx, cut: cut, closedSide: make(chan struct{}), subs: map[uint64]*fakeSub{}}
	f.mu.Lock()
	s.n = len(f.streams)
	f.streams = append(f.streams, s)
	f.mu.Unlock()
	defer func() {
		cut()
		s.wg.Wait()
	}()
	frames := make(chan *sessionpb.SessionServiceSubscribeRequest)
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
		select {
		case <-ctx.Done():
			return status.Error(codes.Unavailable, "test: stream cut")
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				close(s.closedSide)
				return nil
			}
			return err
		case fr := <-frames:
			s.frame(fr)
		}
	}
}

func (s *fakeSubStream) frame(fr *sessionpb.SessionServiceSubscribeRequest) {
	id := fr.GetSubId()
	switch x := fr.GetFrame().(type) {
	case *sessionpb.SessionServiceSubscribeRequest_Subscribe:
		req := new(kvpb.KVServiceWatchRequest)
		_ = proto.Unmarshal(x.Subscribe.GetPayload(), req)
		ctx, cancel := context.WithCancel(s.ctx)
		credit := int(x.Subscribe.GetCredit())
		u := &fakeSub{s: s, id: id, req: req, ctx: ctx, cancel: cancel, credit: credit, granted: credit,
			wake: make(chan struct{}, 1), starved: make(chan struct{}, 1), ended: make(chan struct{})}
		s.mu.Lock()
		s.subs[id] = u
		s.mu.Unlock()
		s.wg.Go(u.run)
		s.f.started <- u
	case *sessionpb.SessionServiceSubscribeRequest_Credit:
		if u := s.sub(id); u != nil {
			u.mu.Lock()
			u.credit += int(x.Credit)
			u.granted += int(x.Credit)
			u.mu.Unlock()
			select {
			case u.wake <- struct{}{}:
			default:
			}
		}
	case *sessionpb.SessionServiceSubscribeRequest_Cancel:
		s.f.cancels <- id
		if u := s.sub(id); u != nil {
			u.cancel()
		}
	}
}

func (s *fakeSubStream) sub(id uint64) *fakeSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[id]
}

func (s *fakeSubStream) live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

func (s *fakeSubStream) send(r *sessionpb.SessionServiceSubscribeResponse) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	return s.st.Send(r)
}

// goaway tells the client the server is stopping.
func (s *fakeSubStream) goaway() error {
	return s.send(&sessionpb.SessionServiceSubscribeResponse{End: &sessionpb.SessionStatus{
		Code: int32(codes.Unavailable), Message: "test: server is stopping"}})
}

func (u *fakeSub) run() {
	defer close(u.ended)
	n, _ := strconv.Atoi(strings.TrimPrefix(u.req.GetPattern(), "n:"))
	for i := 1; i <= n; i++ {
		if u.event(uint64(i)) != nil {
			break
		}
	}
	<-u.ctx.Done()
	if u.req.GetPattern() == "hold" {
		select {
		case <-u.s.f.release:
		case <-u.s.ctx.Done():
		}
	}
	if u.s.ctx.Err() == nil {
		u.end(status.New(codes.Canceled, "test: cancelled"))
	}
}

// event sends one event once the subscription has credit for it.
func (u *fakeSub) event(rev uint64) error {
	for {
		u.mu.Lock()
		if u.credit > 0 {
			u.credit--
			u.sent++
			u.mu.Unlock()
			break
		}
		u.mu.Unlock()
		select {
		case u.starved <- struct{}{}:
		default:
		}
		select {
		case <-u.wake:
		case <-u.ctx.Done():
			return u.ctx.Err()
		}
	}
	b, _ := proto.Marshal(&kvpb.KVServiceWatchResponse{Result: &commonpb.Result{Success: true}, Revision: rev})
	return u.s.send(&sessionpb.SessionServiceSubscribeResponse{SubId: u.id, Event: b})
}

// end sends the subscription's end frame with st (nil: code 0), as a
// handler that returned does, and stops it.
func (u *fakeSub) end(st *status.Status) {
	u.endOnce.Do(func() {
		u.s.mu.Lock()
		delete(u.s.subs, u.id)
		u.s.mu.Unlock()
		f := &sessionpb.SessionServiceSubscribeResponse{SubId: u.id, End: &sessionpb.SessionStatus{}}
		if st != nil {
			f.End = &sessionpb.SessionStatus{Code: int32(st.Code()), Message: st.Message(), Details: st.Proto().GetDetails()}
		}
		_ = u.s.send(f)
		u.cancel()
	})
}

func (u *fakeSub) counts() (granted, sent int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.granted, u.sent
}

func (f *fakeSubscribe) streamCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.streams)
}

// cut breaks every Subscribe stream, as a server that goes away does.
func (f *fakeSubscribe) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.streams {
		s.cut()
	}
}

// plainKV serves Watch as a plain stream, as the fake's subscriptions do,
// and Keys, a stream never carried as a subscription.
type plainKV struct {
	kvpb.UnimplementedKVServiceServer
	f *fakeSubscribe
}

func (k *plainKV) Watch(req *kvpb.KVServiceWatchRequest, st grpc.ServerStreamingServer[kvpb.KVServiceWatchResponse]) error {
	k.f.plain.Add(1)
	n, _ := strconv.Atoi(strings.TrimPrefix(req.GetPattern(), "n:"))
	for i := 1; i <= n; i++ {
		if err := st.Send(&kvpb.KVServiceWatchResponse{Result: &commonpb.Result{Success: true}, Revision: uint64(i)}); err != nil {
			return err
		}
	}
	<-st.Context().Done()
	return nil
}

func (k *plainKV) Keys(_ *kvpb.KVServiceKeysRequest, st grpc.ServerStreamingServer[kvpb.KVServiceKeysResponse]) error {
	k.f.keys.Add(1)
	return st.Send(&kvpb.KVServiceKeysResponse{Result: &commonpb.Result{Success: true}, Keys: []string{"k"}, Done: true})
}

func watch(ctx context.Context, t *testing.T, c *Conn, pattern string) grpc.ServerStreamingClient[kvpb.KVServiceWatchResponse] {
	t.Helper()
	w, err := kvpb.NewKVServiceClient(c).Watch(ctx, &kvpb.KVServiceWatchRequest{Bucket: "b", Pattern: pattern})
	if err != nil {
		t.Fatalf("Watch(%q): %v", pattern, err)
	}
	return w
}

// expectRevs reads revisions from..to from w, in order.
func expectRevs(t *testing.T, w grpc.ServerStreamingClient[kvpb.KVServiceWatchResponse], from, to uint64) {
	t.Helper()
	if err := revs(w, from, to); err != nil {
		t.Fatal(err)
	}
}

func revs(w grpc.ServerStreamingClient[kvpb.KVServiceWatchResponse], from, to uint64) error {
	for want := from; want <= to; want++ {
		r, err := w.Recv()
		if err != nil {
			return fmt.Errorf("waiting for revision %d: %w", want, err)
		}
		if r.GetRevision() != want {
			return fmt.Errorf("revision %d, want %d", r.GetRevision(), want)
		}
	}
	return nil
}

// recvErr reads w until it fails, and answers the error as the SDK maps it.
func recvErr(t *testing.T, ctx context.Context, w grpc.ServerStreamingClient[kvpb.KVServiceWatchResponse]) (mapped *Error, raw error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := w.Recv(); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case raw = <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end within 5s")
	}
	if !errors.As(MapError(ctx, raw), &mapped) {
		t.Fatalf("%v maps to %T, want *Error", raw, MapError(ctx, raw))
	}
	return mapped, raw
}

func waitSub(t *testing.T, f *fakeSubscribe) *fakeSub {
	t.Helper()
	select {
	case u := <-f.started:
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription reached the server within 5s")
		return nil
	}
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("not within 5s: %s", what)
	}
}

// clientSubs is how many subscriptions the Conn's open Subscribe stream
// carries (-1: none is open).
func clientSubs(c *Conn) int {
	m := c.subMux(c.cc)
	m.mu.Lock()
	st := m.cur
	m.mu.Unlock()
	if st == nil {
		return -1
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.subs)
}

// TestSubscriptionCarriesEventsInOrder: two watches share one Subscribe
// stream, each gets its own events in order (more than one credit's
// worth, so grants flow), and nothing goes plain.
func TestSubscriptionCarriesEventsInOrder(t *testing.T) {
	f := newFakeSubscribe(16)
	c := dialSessions(t, serveSubscribe(t, f, true))
	ctx := t.Context()
	w1, w2 := watch(ctx, t, c, "n:300"), watch(ctx, t, c, "n:150")
	errc := make(chan error, 1)
	go func() { errc <- revs(w2, 1, 150) }()
	expectRevs(t, w1, 1, 300)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n, p := f.streamCount(), f.plain.Load(); n != 1 || p != 0 {
		t.Fatalf("%d Subscribe streams and %d plain watches, want 1 and 0", n, p)
	}
}

// TestSubscriptionEndMapsToTheSDKError: a subscription's end frame is what
// its Recv returns, as a plain stream's status would be: code 0 is io.EOF,
// a status maps to the *Error a plain stream's would, leader hint included.
func TestSubscriptionEndMapsToTheSDKError(t *testing.T) {
	f := newFakeSubscribe(16)
	c := dialSessions(t, serveSubscribe(t, f, true))
	ctx := t.Context()

	w := watch(ctx, t, c, "n:1")
	expectRevs(t, w, 1, 1)
	waitSub(t, f).end(nil)
	if _, err := w.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after an end frame with code 0: %v, want io.EOF", err)
	}

	w = watch(ctx, t, c, "n:0")
	waitSub(t, f).end(status.New(codes.NotFound, "test: no such bucket"))
	e, _ := recvErr(t, ctx, w)
	if e.Kind != KindRPC || e.Code != codes.NotFound.String() || e.Message != "test: no such bucket" {
		t.Fatalf("end NotFound maps to %+v", e)
	}

	w = watch(ctx, t, c, "n:0")
	st, _ := status.New(codes.Unavailable, "test: no leader reachable").WithDetails(&commonpb.Result{ResultCode: CodeUnavailable, LeaderHint: "10.0.0.9:8818"})
	waitSub(t, f).end(st)
	e, _ = recvErr(t, ctx, w)
	if !errors.Is(e, ErrUnavailable) || e.LeaderHint != "10.0.0.9:8818" || !transient(e) {
		t.Fatalf("end Unavailable with a hint maps to %+v, want a transient Unavailable naming the leader", e)
	}
	if f.plain.Load() != 0 {
		t.Fatalf("%d watches went plain", f.plain.Load())
	}
}

// TestSubscriptionCreditBoundsWhatIsQueued: the client never has more than
// its credit (64) outstanding and grants more as its reader takes events;
// a reader that stops reading stops receiving, while another subscription
// on the same Subscribe stream goes on; reading again resumes it in order.
func TestSubscriptionCreditBoundsWhatIsQueued(t *testing.T) {
	f := newFakeSubscribe(16)
	c := dialSessions(t, serveSubscribe(t, f, true))
	ctx := t.Context()

	slow := watch(ctx, t, c, "n:1000")
	us := waitSub(t, f)
	expectRevs(t, slow, 1, 10)
	// The handler has spent the whole credit and waits for more.
	waitClosed(t, "the slow subscription's handler waits for credit", us.starved)
	if g, s := us.counts(); g != subscriptionCredit || s != subscriptionCredit {
		t.Fatalf("a reader that took 10 events: %d granted, %d sent, want %d and %d", g, s, subscriptionCredit, subscriptionCredit)
	}

	fast := watch(ctx, t, c, "n:400")
	uf := waitSub(t, f)
	if uf.s != us.s {
		t.Fatal("the second watch is on another Subscribe stream")
	}
	bounded := func(u *fakeSub, read int) {
		t.Helper()
		if g, _ := u.counts(); g > subscriptionCredit+read {
			t.Fatalf("after %d events read, %d granted: more than %d outstanding", read, g, subscriptionCredit)
		}
	}
	for i := 1; i <= 400; i++ {
		expectRevs(t, fast, uint64(i), uint64(i))
		bounded(uf, i)
	}
	if g, _ := uf.counts(); g < 400 {
		t.Fatalf("400 events read on %d granted", g)
	}
	// The stopped reader received nothing more meanwhile.
	if g, s := us.counts(); g != subscriptionCredit || s != subscriptionCredit {
		t.Fatalf("the stopped reader: %d granted, %d sent while another read, want %d and %d", g, s, subscriptionCredit, subscriptionCredit)
	}
	for i := 11; i <= 1000; i++ {
		expectRevs(t, slow, uint64(i), uint64(i))
		bounded(us, i)
	}
	if f.plain.Load() != 0 || f.streamCount() != 1 {
		t.Fatalf("%d plain watches, %d Subscribe streams, want 0 and 1", f.plain.Load(), f.streamCount())
	}
}

// TestSubscriptionCancelledCountsUntilTheServerEndsIt: a cancelled
// subscription keeps its place until the server has answered its cancel
// (the server counts it under max_subscriptions until then), so a watch
// meanwhile at the limit goes plain instead of being refused; once the
// end frame comes the place is free again.
func TestSubscriptionCancelledCountsUntilTheServerEndsIt(t *testing.T) {
	f := newFakeSubscribe(1)
	c := dialSessions(t, serveSubscribe(t, f, true))
	ctx, cancel := context.WithCancel(t.Context())
	w := watch(ctx, t, c, "hold")
	u := waitSub(t, f)
	cancel()
	if _, raw := recvErr(t, ctx, w); status.Code(raw) != codes.Canceled {
		t.Fatalf("the cancelled watch: %v, want Canceled", raw)
	}
	<-f.cancels
	if got := clientSubs(c); got != 1 {
		t.Fatalf("before the server's end the stream counts %d subscriptions, want 1", got)
	}
	during := watch(t.Context(), t, c, "n:1")
	expectRevs(t, during, 1, 1)
	if f.plain.Load() != 1 {
		t.Fatalf("a watch at the limit while the cancel is unanswered: %d plain, want 1 (not refused)", f.plain.Load())
	}
	close(f.release)
	waitClosed(t, "the held subscription's handler ends", u.ended)
	eventually(t, "the client forgets the cancelled subscription once it ended", func() bool { return clientSubs(c) == 0 })
}

// TestSubscriptionCancelFreesIt: cancelling a subscription's context ends
// its Recv with Canceled, sends a cancel frame (the server's handler
// ends), frees its place on the stream (a watch that needs it goes on the
// stream, not plain) and leaves no goroutine behind.
func TestSubscriptionCancelFreesIt(t *testing.T) {
	f := newFakeSubscribe(2)
	c := dialSessions(t, serveSubscribe(t, f, true))
	keep := watch(t.Context(), t, c, "n:1")
	expectRevs(t, keep, 1, 1)
	waitSub(t, f)
	ignore := goleak.IgnoreCurrent()

	for round := range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		w := watch(ctx, t, c, "n:3")
		expectRevs(t, w, 1, 1)
		u := waitSub(t, f)
		cancel()
		e, raw := recvErr(t, ctx, w)
		if status.Code(raw) != codes.Canceled || !errors.Is(e, context.Canceled) {
			t.Fatalf("round %d: a cancelled watch: %v (%+v), want Canceled", round, raw, e)
		}
		select {
		case id := <-f.cancels:
			if id != u.id {
				t.Fatalf("round %d: cancel frame for sub %d, want %d", round, id, u.id)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: no cancel frame reached the server", round)
		}
		waitClosed(t, "the cancelled subscription's handler ends", u.ended)
		eventually(t, "the client forgets the cancelled subscription", func() bool { return clientSubs(c) == 1 })
		goleak.VerifyNone(t, ignore)
	}
	if f.plain.Load() != 0 {
		t.Fatalf("%d watches went plain: a cancelled subscription kept its place under max_subscriptions 2", f.plain.Load())
	}
}

// TestSubscriptionStreamBreakEndsEveryOne: when the Subscribe stream
// breaks, every subscription on it ends Unavailable (so Follow rebinds
// each from its resume point), and the next watch opens a fresh stream.
func TestSubscriptionStreamBreakEndsEveryOne(t *testing.T) {
	f := newFakeSubscribe(16)
	c := dialSessions(t, serveSubscribe(t, f, true))
	ctx := t.Context()
	var ws []grpc.ServerStreamingClient[kvpb.KVServiceWatchResponse]
	for range 3 {
		w := watch(ctx, t, c, "n:1")
		expectRevs(t, w, 1, 1)
		waitSub(t, f)
		ws = append(ws, w)
	}
	f.cut()
	for i, w := range ws {
		e, _ := recvErr(t, ctx, w)
		if !errors.Is(e, ErrUnavailable) || !rebindable(e) {
			t.Fatalf("watch %d on a broken stream: %+v, want a rebindable Unavailable", i, e)
		}
	}
	w := watch(ctx, t, c, "n:2")
	expectRevs(t, w, 1, 2)
	if n := f.streamCount(); n != 2 || f.plain.Load() != 0 {
		t.Fatalf("after the break: %d Subscribe streams and %d plain watches, want 2 and 0", n, f.plain.Load())
	}
	if u := waitSub(t, f); u.s.n != 1 {
		t.Fatalf("the watch after the break is on stream %d, want 1", u.s.n)
	}
}

// TestSubscriptionGoawayDrains: after a goaway the subscriptions on the
// stream go on; nothing new is subscribed on it: a watch meanwhile opens a
// new stream; once the old stream's last subscription has ended the
// client closes its side of it.
func TestSubscriptionGoawayDrains(t *testing.T) {
	f := newFakeSubscribe(16)
	c := dialSessions(t, serveSubscribe(t, f, true))
	ctx := t.Context()
	old := watch(ctx, t, c, "n:1")
	expectRevs(t, old, 1, 1)
	u := waitSub(t, f)
	if err := u.s.goaway(); err != nil {
		t.Fatal(err)
	}
	// The event comes after the goaway on the same stream, so the client
	// has taken the goaway once the event arrives.
	if err := u.event(2); err != nil {
		t.Fatal(err)
	}
	expectRevs(t, old, 2, 2)

	during := watch(ctx, t, c, "n:1")
	expectRevs(t, during, 1, 1)
	nu := waitSub(t, f)
	if n, live := f.streamCount(), u.s.live(); n != 2 || live != 1 || nu.s.n == u.s.n || f.plain.Load() != 0 {
		t.Fatalf("a watch after the goaway: %d streams, %d live on the draining one, on stream %d (draining %d), %d plain; want 2, 1, a new stream, 0",
			n, live, nu.s.n, u.s.n, f.plain.Load())
	}

	u.end(status.New(codes.Unavailable, "test: server stopping; rebind"))
	if e, _ := recvErr(t, ctx, old); !errors.Is(e, ErrUnavailable) {
		t.Fatalf("the drained subscription ended %+v, want Unavailable", e)
	}
	waitClosed(t, "the client closes its side of the drained stream", u.s.closedSide)
	if got := clientSubs(c); got != 1 {
		t.Fatalf("the new stream carries %d subscriptions, want 1", got)
	}
}

// TestSubscriptionFallsBackToPlainStreams: a watch is a plain stream, and
// works, when sessions are off, when the server has no session service,
// when it offers no Subscribe, when Subscribe answers Unimplemented though
// Open offered it, and when the stream has max_subscriptions live; a
// server stream not on the allow-list is always plain.
func TestSubscriptionFallsBackToPlainStreams(t *testing.T) {
	plainWatch := func(t *testing.T, c *Conn, f *fakeSubscribe, wantPlain int32) {
		t.Helper()
		w := watch(t.Context(), t, c, "n:2")
		expectRevs(t, w, 1, 2)
		if f.plain.Load() != wantPlain {
			t.Fatalf("%d plain watches, want %d", f.plain.Load(), wantPlain)
		}
	}
	t.Run("SessionsOff", func(t *testing.T) {
		f := newFakeSubscribe(16)
		c := dialSessions(t, serveSubscribe(t, f, true), WithSessions(false))
		plainWatch(t, c, f, 1)
		plainWatch(t, c, f, 2)
		if f.opens.Load() != 0 || f.streamCount() != 0 {
			t.Fatalf("sessions off: %d opens, %d Subscribe streams", f.opens.Load(), f.streamCount())
		}
	})
	t.Run("NoSessionService", func(t *testing.T) {
		f := newFakeSubscribe(16)
		c := dialSessions(t, serveSubscribe(t, f, false))
		plainWatch(t, c, f, 1)
		plainWatch(t, c, f, 2)
		if !c.subMux(c.cc).unsupported.Load() {
			t.Fatal("the Conn did not note that the server offers no Subscribe")
		}
	})
	t.Run("NoSubscriptionsOffered", func(t *testing.T) {
		f := newFakeSubscribe(0)
		c := dialSessions(t, serveSubscribe(t, f, true))
		plainWatch(t, c, f, 1)
		plainWatch(t, c, f, 2)
		if f.opens.Load() != 1 || f.streamCount() != 0 {
			t.Fatalf("max_subscriptions 0: %d opens, %d Subscribe streams, want 1 and 0", f.opens.Load(), f.streamCount())
		}
	})
	t.Run("SubscribeUnimplemented", func(t *testing.T) {
		f := newFakeSubscribe(16)
		f.noSubscribe = true
		c := dialSessions(t, serveSubscribe(t, f, true))
		// The first watch may meet the refusal (Unavailable: Follow
		// rebinds it); the ones after it go plain.
		w := watch(t.Context(), t, c, "n:2")
		if r, err := w.Recv(); err != nil {
			if e, ok := MapError(t.Context(), err).(*Error); !ok || !rebindable(e) {
				t.Fatalf("the first watch: %v, want events or a rebindable error", err)
			}
		} else if r.GetRevision() != 1 {
			t.Fatalf("revision %d, want 1", r.GetRevision())
		}
		before := f.plain.Load()
		for i := range 3 {
			plainWatch(t, c, f, before+int32(i)+1)
		}
	})
	t.Run("MaxSubscriptions", func(t *testing.T) {
		f := newFakeSubscribe(2)
		c := dialSessions(t, serveSubscribe(t, f, true))
		ctx, cancel := context.WithCancel(t.Context())
		for range 2 {
			w := watch(ctx, t, c, "n:1")
			expectRevs(t, w, 1, 1)
		}
		plainWatch(t, c, f, 1)
		cancel()
		eventually(t, "the cancelled subscriptions are forgotten", func() bool { return clientSubs(c) == 0 })
		w := watch(t.Context(), t, c, "n:1")
		expectRevs(t, w, 1, 1)
		if f.plain.Load() != 1 || f.streamCount() != 1 {
			t.Fatalf("with room again: %d plain, %d streams, want 1 and 1", f.plain.Load(), f.streamCount())
		}
	})
	t.Run("NotOnTheAllowList", func(t *testing.T) {
		f := newFakeSubscribe(16)
		c := dialSessions(t, serveSubscribe(t, f, true))
		for range 2 {
			k, err := kvpb.NewKVServiceClient(c).Keys(t.Context(), &kvpb.KVServiceKeysRequest{Bucket: "b"})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := k.Recv(); err != nil || !r.GetDone() {
				t.Fatalf("Keys: %v, %v", r, err)
			}
		}
		if f.keys.Load() != 2 || f.opens.Load() != 0 || f.streamCount() != 0 {
			t.Fatalf("Keys: %d plain, %d opens, %d Subscribe streams; want 2, 0, 0", f.keys.Load(), f.opens.Load(), f.streamCount())
		}
	})
}

// TestSubscriptionCloseEndsEverything: Close ends every subscription's
// Recv (Canceled, as gRPC ends a plain stream whose connection closes),
// the server's handlers end, and no goroutine is left.
func TestSubscriptionCloseEndsEverything(t *testing.T) {
	f := newFakeSubscribe(16)
	addr := serveSubscribe(t, f, true)
	ignore := goleak.IgnoreCurrent()
	c, err := Dial(context.Background(), []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var ws []grpc.ServerStreamingClient[kvpb.KVServiceWatchResponse]
	var us []*fakeSub
	for i := range 4 {
		w := watch(ctx, t, c, fmt.Sprint("n:", i+1))
		expectRevs(t, w, 1, uint64(i+1))
		ws = append(ws, w)
		us = append(us, waitSub(t, f))
	}
	errs := make(chan error, len(ws))
	for _, w := range ws {
		go func() {
			_, err := w.Recv()
			errs <- err
		}()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range ws {
		select {
		case err := <-errs:
			if status.Code(err) != codes.Canceled {
				t.Fatalf("a watch when its Conn closed: %v, want Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a watch's Recv did not return after Close")
		}
	}
	for _, u := range us {
		waitClosed(t, "a handler ends after Close", u.ended)
	}
	goleak.VerifyNone(t, ignore)
}

// TestSubscriptionTooLargeRequestFreesItsPlace: a watch whose request is
// over the message limit fails as on a plain stream (ResourceExhausted)
// and does not keep its place on the Subscribe stream.
func TestSubscriptionTooLargeRequestFreesItsPlace(t *testing.T) {
	f := newFakeSubscribe(2)
	c := dialSessions(t, serveSubscribe(t, f, true), WithMaxMessageSize(256))
	keep := watch(t.Context(), t, c, "n:1")
	expectRevs(t, keep, 1, 1)
	for i := range 3 {
		// A plain stream fails in Watch (its SendMsg); a subscription in
		// its first Recv.
		w, err := kvpb.NewKVServiceClient(c).Watch(t.Context(), &kvpb.KVServiceWatchRequest{Bucket: "b", Pattern: strings.Repeat("x", 300)})
		if err == nil {
			_, err = recvErr(t, t.Context(), w)
		}
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("oversized request %d: %v, want ResourceExhausted", i, err)
		}
	}
	if n := clientSubs(c); n != 1 {
		t.Fatalf("the Subscribe stream carries %d subscriptions after three refused requests, want 1", n)
	}
	w := watch(t.Context(), t, c, "n:1")
	expectRevs(t, w, 1, 1)
	if f.plain.Load() != 0 {
		t.Fatal("a watch went plain: the refused requests kept their places")
	}
}

// TestSubscriptionCancelledWhileSubscribing: a context cancelled while the
// watch is being subscribed ends it Canceled, and no subscription stays
// live, on the client or the server (run with -race: the cancellation runs
// beside the subscribing).
func TestSubscriptionCancelledWhileSubscribing(t *testing.T) {
	f := newFakeSubscribe(1 << 10)
	c := dialSessions(t, serveSubscribe(t, f, true))
	keep := watch(t.Context(), t, c, "n:1")
	expectRevs(t, keep, 1, 1)
	u := waitSub(t, f)
	for i := range 200 {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if i%2 == 0 {
				runtime.Gosched()
			}
			cancel()
		}()
		w, err := kvpb.NewKVServiceClient(c).Watch(ctx, &kvpb.KVServiceWatchRequest{Bucket: "b", Pattern: "n:1"})
		if err == nil {
			for err == nil {
				_, err = w.Recv()
			}
		}
		<-done
		if status.Code(err) != codes.Canceled {
			t.Fatalf("round %d: %v, want Canceled", i, err)
		}
	}
	eventually(t, "no cancelled subscription stays on the client", func() bool { return clientSubs(c) == 1 })
	eventually(t, "no cancelled subscription stays live on the server", func() bool { return u.s.live() == 1 })
}

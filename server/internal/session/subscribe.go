package session

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/park"
)

// Subscriptions: the server-streaming methods of every registered service
// (watches, consumer deliveries, lock events), carried on one Subscribe
// stream per client connection instead of an HTTP/2 stream each.
//
// A subscription runs the method's generated stream handler, the very one
// a gRPC stream of that method reaches, behind Config.StreamChain (the
// server's own stream interceptors: the starting gate, authentication and
// permissions, cluster routing, metrics and the request log), on a
// grpc.ServerStream of its own whose SendMsg spends the subscription's
// credit and queues one event frame for the stream's one writer. So a
// subscription whose reader stopped blocks only its own handler (which
// keeps a bounded batch, as it does under HTTP/2 flow control), and an
// operation is implemented once.

// DefaultMaxSubscriptions is the most live subscriptions one Subscribe
// stream carries by default.
const DefaultMaxSubscriptions = 1 << 16

// maxCredit bounds the credit one subscription may hold, so a client
// granting without end cannot overflow the count.
const maxCredit = 1 << 20

// subscribeOut is the stream's queue of frames for its writer.
const subscribeOut = 256

// Subscribe serves one Subscribe stream: a reader takes frames and starts
// each subscription's handler in its own goroutine, and this goroutine, the
// one writer, sends every event and end frame.
func (s *Service) Subscribe(st sessionpb.SessionService_SubscribeServer) error {
	if s.cfg.MaxSubscriptions < 0 {
		return status.Error(codes.Unimplemented, "waymaker: session: this server offers no subscriptions")
	}
	ctx, cancel := context.WithCancel(st.Context())
	defer cancel()
	t := &subStream{s: s, ctx: ctx, out: make(chan *sessionpb.SessionServiceSubscribeResponse, subscribeOut), subs: map[uint64]*subscription{}}
	t.streamMD, _ = metadata.FromIncomingContext(ctx)
	recvErr := make(chan error, 1)
	go func() { recvErr <- t.read(st) }()

	stopping := s.cfg.Stopping
	for {
		select {
		case r := <-t.out:
			if err := st.Send(r); err != nil {
				t.end(cancel)
				return err
			}
		case <-stopping:
			stopping = nil
			t.mu.Lock()
			t.draining = true
			subs := make([]*subscription, 0, len(t.subs))
			for _, u := range t.subs {
				subs = append(subs, u)
			}
			t.mu.Unlock()
			for _, u := range subs {
				u.wake() // a parked loop sees the stop
			}
			if err := st.Send(&sessionpb.SessionServiceSubscribeResponse{End: &sessionpb.SessionStatus{
				Code: int32(codes.Unavailable), Message: "waymaker: server is stopping; subscribe on another stream",
			}}); err != nil {
				t.end(cancel)
				return err
			}
		case err := <-recvErr:
			// The client closed its side (it wants none of the
			// subscriptions still live), went away, or broke the protocol:
			// the subscriptions are cancelled, as streams are when their
			// client goes.
			t.end(cancel)
			if isEOF(err) {
				return nil
			}
			return err
		}
	}
}

// subStream is the state of one Subscribe stream.
type subStream struct {
	s        *Service
	ctx      context.Context
	streamMD metadata.MD
	out      chan *sessionpb.SessionServiceSubscribeResponse
	wg       sync.WaitGroup

	mu       sync.Mutex
	subs     map[uint64]*subscription // live
	draining bool                     // stopping: no new subscriptions
	ended    bool                     // the handler stopped waiting: start none
}

// end cancels every subscription and waits for their handlers.
func (t *subStream) end(cancel context.CancelFunc) {
	t.mu.Lock()
	t.ended = true
	t.mu.Unlock()
	cancel()
	t.wg.Wait()
	// Nothing runs now: what is left are parked loops.
	t.mu.Lock()
	left := t.subs
	t.subs = map[uint64]*subscription{}
	t.mu.Unlock()
	for _, u := range left {
		if u.loop == nil {
			continue
		}
		u.mu.Lock()
		u.over = true
		u.mu.Unlock()
		u.loop.Close()
		err := status.FromContextError(context.Canceled).Err()
		for _, f := range u.atEnd {
			f(err)
		}
	}
}

func (t *subStream) read(st sessionpb.SessionService_SubscribeServer) error {
	for {
		f, err := st.Recv()
		if err != nil {
			return err
		}
		id := f.GetSubId()
		if id == 0 {
			return status.Error(codes.InvalidArgument, "waymaker: session: sub_id must not be 0")
		}
		switch fr := f.GetFrame().(type) {
		case *sessionpb.SessionServiceSubscribeRequest_Subscribe:
			if err := t.start(id, fr.Subscribe); err != nil {
				return err
			}
		case *sessionpb.SessionServiceSubscribeRequest_Credit:
			t.credit(id, fr.Credit)
		case *sessionpb.SessionServiceSubscribeRequest_Cancel:
			if fr.Cancel {
				t.cancel(id)
			}
		default:
			return status.Errorf(codes.InvalidArgument, "waymaker: session: sub_id %d: frame must be one of subscribe, credit, cancel", id)
		}
	}
}

// start runs the subscription in a goroutine of its own, or ends it at
// once when it cannot run. A sub_id already live breaks the protocol.
func (t *subStream) start(id uint64, f *sessionpb.SessionSubscribe) error {
	limit := t.s.maxSubscriptions()
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return errEnded
	}
	if _, dup := t.subs[id]; dup {
		t.mu.Unlock()
		return status.Errorf(codes.InvalidArgument, "waymaker: session: sub_id %d is already live on this stream", id)
	}
	var refuse error
	switch {
	case t.draining:
		refuse = status.Error(codes.Unavailable, "waymaker: server is stopping; subscribe on another stream")
	case len(t.subs) >= limit:
		refuse = status.Errorf(codes.ResourceExhausted, "waymaker: session: more than %d subscriptions on one stream (max_subscriptions); the subscription was not started", limit)
	case f.GetCredit() == 0:
		refuse = status.Errorf(codes.InvalidArgument, "waymaker: session: sub_id %d: credit must not be 0", id)
	}
	if refuse != nil {
		t.mu.Unlock()
		t.send(endFrame(id, refuse))
		return nil
	}
	ctx, cancel := context.WithCancel(t.ctx)
	u := &subscription{t: t, id: id, cancel: cancel, credit: min(f.GetCredit(), maxCredit), payload: f.GetPayload()}
	t.subs[id] = u
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		err := t.s.runSubscription(ctx, t.streamMD, f, u)
		if errors.Is(err, park.ErrParked) && u.isParked() {
			u.drive()
			return
		}
		u.finish(err)
	}()
	return nil
}

// finish ends the subscription with the handler's (or its loop's) status.
func (u *subscription) finish(err error) {
	t := u.t
	t.mu.Lock()
	delete(t.subs, u.id)
	t.mu.Unlock()
	u.cancel()
	for _, f := range u.atEnd {
		f(err)
	}
	t.send(endFrame(u.id, err))
}

// Park takes the handler's loop over (park.Parker); the handler returns
// park.ErrParked, and drive runs the loop.
func (u *subscription) Park(l park.Loop, stopping <-chan struct{}) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.loop, u.stopping, u.parked, u.running = l, stopping, true, true
	return true
}

// AtEnd takes an interceptor's hook for the subscription's end.
func (u *subscription) AtEnd(f func(error)) { u.atEnd = append(u.atEnd, f) }

func (u *subscription) isParked() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.parked
}

// drive steps the loop until it waits (its waiter took wake) or ends.
func (u *subscription) drive() {
	for {
		var (
			err   error
			ended = true
		)
		select {
		case <-u.stopping:
			err = u.loop.Stopping()
		default:
			if u.ctx.Err() != nil {
				break // cancelled, or the stream ended: as a handler whose ctx ended
			}
			var w park.Waiter
			if w, err = u.loop.Step(); w != nil {
				ended = false
				if !w.OnFire(u.wake) {
					continue // it fired meanwhile: look again
				}
			}
		}
		if ended {
			u.end(err)
			return
		}
		u.mu.Lock()
		if u.again {
			u.again = false
			u.mu.Unlock()
			continue
		}
		u.running = false
		u.mu.Unlock()
		return
	}
}

// wake runs the parked loop's next step on a goroutine of its own: on its
// waiter's fire, a cancel frame, and the server stopping. (The stream's
// end closes parked loops itself, in end.)
func (u *subscription) wake() {
	u.mu.Lock()
	if !u.parked || u.over {
		u.mu.Unlock()
		return
	}
	if u.running {
		u.again = true
		u.mu.Unlock()
		return
	}
	u.running = true
	u.mu.Unlock()
	t := u.t
	t.mu.Lock()
	if t.ended {
		// The stream's end closes every parked loop once nothing runs.
		t.mu.Unlock()
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		u.drive()
	}()
}

// end closes the loop and ends the subscription with err.
func (u *subscription) end(err error) {
	u.mu.Lock()
	u.over = true
	u.mu.Unlock()
	u.loop.Close()
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			err = status.FromContextError(err).Err()
		}
	}
	u.finish(err)
}

func (t *subStream) credit(id uint64, n uint32) {
	t.mu.Lock()
	u := t.subs[id]
	t.mu.Unlock()
	if u == nil {
		return // it has ended; its end frame is on its way
	}
	u.mu.Lock()
	u.credit = min(u.credit+min(n, maxCredit), maxCredit)
	if u.credited != nil {
		select {
		case u.credited <- struct{}{}:
		default:
		}
	}
	u.mu.Unlock()
}

func (t *subStream) cancel(id uint64) {
	t.mu.Lock()
	u := t.subs[id]
	t.mu.Unlock()
	if u != nil {
		u.cancel()
		u.wake() // a parked loop sees its end
	}
}

// send queues a frame for the writer; it waits only while the writer is
// behind, and gives up once the stream has ended.
func (t *subStream) send(r *sessionpb.SessionServiceSubscribeResponse) {
	select {
	case t.out <- r:
	case <-t.ctx.Done():
	}
}

func endFrame(id uint64, err error) *sessionpb.SessionServiceSubscribeResponse {
	r := &sessionpb.SessionServiceSubscribeResponse{SubId: id, End: &sessionpb.SessionStatus{}}
	if err != nil {
		st := status.Convert(err)
		r.End = &sessionpb.SessionStatus{Code: int32(st.Code()), Message: st.Message(), Details: st.Proto().GetDetails()}
	}
	return r
}

// runSubscription runs the method f names on u, behind the stream chain,
// as a gRPC stream of that method would run, and answers its status.
func (s *Service) runSubscription(ctx context.Context, streamMD metadata.MD, f *sessionpb.SessionSubscribe, u *subscription) error {
	m, ok := s.reg.lookupStream(f.GetMethod())
	if !ok {
		return status.Errorf(codes.Unimplemented, "waymaker: session: unknown method %q: not a server-streaming method of a service this server offers", f.GetMethod())
	}
	md, err := callMetadata(streamMD, f.GetMetadata())
	if err != nil {
		return err
	}
	ctx = metadata.NewIncomingContext(ctx, md)
	u.ctx = park.WithParker(grpc.NewContextWithServerTransportStream(ctx, envelopeStream(f.GetMethod())), u)
	info := &grpc.StreamServerInfo{FullMethod: f.GetMethod(), IsServerStream: true}
	if sic := s.cfg.StreamChain; sic != nil {
		err = sic(m.impl, u, info, m.handler)
	} else {
		err = m.handler(m.impl, u)
	}
	if err != nil && !errors.Is(err, park.ErrParked) {
		if _, ok := status.FromError(err); !ok {
			err = status.FromContextError(err).Err()
		}
	}
	return err
}

// subscription is one live subscription, and the grpc.ServerStream its
// handler runs on.
type subscription struct {
	t       *subStream
	id      uint64
	ctx     context.Context // set before the handler runs
	cancel  context.CancelFunc
	payload []byte
	read    bool // the request was taken

	mu       sync.Mutex
	credit   uint32
	credited chan struct{} // a credit frame arrived; made by the first wait for one

	// A parked handler's loop (park.Parker): set by Park on the handler's
	// goroutine before it returns, then driven by drive, one step at a
	// time, on a goroutine started by wake.
	loop     park.Loop
	stopping <-chan struct{}
	atEnd    []func(error) // the interceptors' end hooks (park.AtEnd)
	parked   bool          // loop is set: wake drives it
	running  bool          // a drive is under way (or about to start)
	again    bool          // woken while running: step once more
	over     bool          // the loop has ended
}

func (u *subscription) Context() context.Context     { return u.ctx }
func (u *subscription) SetHeader(metadata.MD) error  { return nil }
func (u *subscription) SendHeader(metadata.MD) error { return nil }
func (u *subscription) SetTrailer(metadata.MD)       {}

// RecvMsg hands the handler the subscription's request, once, and then
// io.EOF: the client's side of a server stream is closed after it.
func (u *subscription) RecvMsg(m any) error {
	if u.read {
		return io.EOF
	}
	u.read = true
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: error unmarshalling request: %T is not a proto message", m)
	}
	if err := proto.Unmarshal(u.payload, msg); err != nil {
		return status.Errorf(codes.Internal, "grpc: error unmarshalling request: %v", err)
	}
	u.payload = nil
	return nil
}

// SendMsg waits for a credit, then queues the message as one event frame.
// It fails as a gRPC stream's Send does once the subscription has ended.
func (u *subscription) SendMsg(m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %T is not a proto message", m)
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	if max := u.t.s.cfg.MaxMessage; max > 0 && len(b) > max-envelopeOverhead {
		return status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", len(b), max-envelopeOverhead)
	}
	for {
		u.mu.Lock()
		if u.credit > 0 {
			u.credit--
			u.mu.Unlock()
			break
		}
		if u.credited == nil {
			u.credited = make(chan struct{}, 1) // made when first waited for
		}
		credited := u.credited
		u.mu.Unlock()
		select {
		case <-credited:
		case <-u.ctx.Done():
			return status.FromContextError(u.ctx.Err()).Err()
		}
	}
	select {
	case u.t.out <- &sessionpb.SessionServiceSubscribeResponse{SubId: u.id, Event: b}:
		return nil
	case <-u.ctx.Done():
		return status.FromContextError(u.ctx.Err()).Err()
	}
}

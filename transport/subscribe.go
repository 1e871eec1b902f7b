package transport

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
)

// Subscriptions (proto/waymaker/session/v1, Subscribe): the long-lived
// server streams of the waymaker.v1 services (watches, consumer
// deliveries, lock events) travel as subscriptions on one Subscribe stream
// per server connection, instead of an HTTP/2 stream (and a gRPC
// goroutine) each. As for unary calls, the path is chosen below every
// interceptor: the generated clients, Follow's rebinding and the error
// mapping see a gRPC stream either way. A stream goes the plain way when
// sessions are off, when the server offers no Subscribe, when no
// Subscribe stream can be opened (tried again after a pause), when the
// open one is full, or when its metadata or call options are
// ones a subscription cannot carry.
//
// Each subscription has credit for subscriptionCredit events: the server
// sends no more until the reader has taken half of them and the client
// grants more, so the events queued for a reader that stopped are bounded
// here, and on the server only that subscription's handler waits. When
// the Subscribe stream breaks, every subscription on it fails as a broken
// stream does (Unavailable), and each rebinds from its resume point.
const (
	subscribeMethod = "/waymaker.session.v1.SessionService/Subscribe"
	// subscriptionCredit is how many events one subscription may have
	// queued in the client.
	subscriptionCredit = 64
)

// subscriptionMethods are the server streams carried as subscriptions:
// the long-lived ones with small messages. Listings and object reads move
// bulk data and keep streams of their own.
var subscriptionMethods = map[string]bool{
	"/waymaker.v1.KVService/Watch":          true,
	"/waymaker.v1.StreamService/Consume":    true,
	"/waymaker.v1.LockService/Acquire":      true,
	"/waymaker.v1.LockService/MultiAcquire": true,
	"/waymaker.v1.LockService/Watch":        true,
	"/waymaker.v1.LockService/Observe":      true,
	"/waymaker.v1.ObjectStoreService/Watch": true,
}

// subMux is the Subscribe stream of one gRPC connection.
type subMux struct {
	c           *Conn
	cc          *grpc.ClientConn
	unsupported atomic.Bool

	mu      sync.Mutex
	cur     *subStream
	opening chan struct{} // closed when the open under way is done
	retryAt time.Time     // a failed open is not tried again before this
	fails   int
}

// subStream is one open Subscribe stream.
type subStream struct {
	m   *subMux
	cs  grpc.ClientStream
	max int // the server's max_subscriptions

	sendMu sync.Mutex

	mu       sync.Mutex
	subs     map[uint64]*subscription
	nextID   uint64
	draining bool // goaway received: no new subscriptions
	done     bool // the stream has ended

	// passUntil (unix nanoseconds): see sessionStream.passUntil.
	passUntil atomic.Int64
}

func (c *Conn) subMux(cc *grpc.ClientConn) *subMux {
	if m, ok := c.subMap.Load(cc); ok {
		return m.(*subMux)
	}
	m, _ := c.subMap.LoadOrStore(cc, &subMux{c: c, cc: cc})
	return m.(*subMux)
}

// subscribeInterceptor is the innermost stream client interceptor of
// every connection a Conn dials: it carries a server stream as a
// subscription when it can, and otherwise opens it with streamer.
func (c *Conn) subscribeInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.opts.noSessions || !desc.ServerStreams || desc.ClientStreams || !subscriptionMethods[method] || !envelopeOptions(opts) {
		return streamer(ctx, desc, cc, method, opts...)
	}
	m := c.subMux(cc)
	if m.unsupported.Load() {
		return streamer(ctx, desc, cc, method, opts...)
	}
	var md []*sessionpb.SessionMetadata
	if out, ok := metadata.FromOutgoingContext(ctx); ok {
		if md, ok = envelopeMetadata(out); !ok {
			return streamer(ctx, desc, cc, method, opts...)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	st := m.stream(ctx)
	if st == nil {
		return streamer(ctx, desc, cc, method, opts...)
	}
	s := &subscription{ctx: ctx, st: st, method: method, md: md, maxMsg: c.opts.maxMsg}
	// Cancelling the subscription sends a frame, which may wait for flow
	// control: it runs on a goroutine of its own, as an AfterFunc would.
	s.stop = OnEnd(ctx, func() { go s.cancel(ctx.Err()) })
	if a, ok := ctx.Value(endCtxKey{}).(*endCtx); ok && a.attempt {
		a.setSubscription(s) // the follower parks on it
	}
	if !st.add(s) {
		s.stop()
		return streamer(ctx, desc, cc, method, opts...)
	}
	s.mu.Lock()
	gone := s.ended // cancelled before it had an id
	s.mu.Unlock()
	if gone {
		st.forget(s.id)
	}
	return s, nil
}

// stream returns an open Subscribe stream with room, opening one when
// there is none; nil sends the caller the plain way.
func (m *subMux) stream(ctx context.Context) *subStream {
	for {
		m.mu.Lock()
		if m.unsupported.Load() {
			m.mu.Unlock()
			return nil
		}
		if st := m.cur; st != nil && st.usable() {
			m.mu.Unlock()
			return st
		}
		if st := m.cur; st != nil && !st.ended() {
			if !st.isDraining() {
				// Full or passed over: this one stream goes plain.
				m.mu.Unlock()
				return nil
			}
			// Draining (a goaway): its subscriptions finish there, and new
			// ones go on a new stream, which the balancer may open on
			// another node.
			m.cur = nil
		}
		if time.Now().Before(m.retryAt) {
			m.mu.Unlock()
			return nil
		}
		if ch := m.opening; ch != nil {
			m.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		ch := make(chan struct{})
		m.opening = ch
		m.mu.Unlock()

		st, err := m.open()
		m.mu.Lock()
		m.opening = nil
		close(ch)
		if err != nil {
			m.fails++
			m.retryAt = time.Now().Add(min(time.Duration(m.fails)*100*time.Millisecond, time.Second))
			m.mu.Unlock()
			m.c.opts.logger.Debug("waymaker: no subscription stream; streams go plain")
			return nil
		}
		m.fails = 0
		m.cur = st
		m.mu.Unlock()
		if !m.c.Go(func(context.Context) { st.read() }) {
			_ = st.cs.CloseSend()
			return nil
		}
		return st
	}
}

// open asks the server for its session parameters and opens a Subscribe
// stream, which lives until the Conn closes or the stream breaks.
func (m *subMux) open() (*subStream, error) {
	octx, cancel := context.WithTimeout(m.c.ctx, sessionOpenTimeout)
	defer cancel()
	var params sessionpb.SessionServiceOpenResponse
	if err := m.cc.Invoke(octx, sessionOpenMethod, &sessionpb.SessionServiceOpenRequest{}, &params); err != nil {
		if status.Code(err) == codes.Unimplemented {
			m.unsupported.Store(true)
		}
		return nil, err
	}
	if !params.GetResult().GetSuccess() || params.GetMaxSubscriptions() == 0 {
		m.unsupported.Store(true)
		return nil, status.Error(codes.Unimplemented, "waymaker: the server offers no subscriptions")
	}
	cs, err := m.cc.NewStream(m.c.ctx, &sessionpb.SessionService_ServiceDesc.Streams[1], subscribeMethod,
		grpc.MaxCallRecvMsgSize(m.c.opts.maxMsg+sessionEnvelopeOverhead))
	if err != nil {
		return nil, err
	}
	return &subStream{m: m, cs: cs, max: int(params.GetMaxSubscriptions()), subs: map[uint64]*subscription{}}, nil
}

func (st *subStream) usable() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return !st.done && !st.draining && len(st.subs) < st.max && time.Now().UnixNano() >= st.passUntil.Load()
}

func (st *subStream) isDraining() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.draining
}

func (st *subStream) ended() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.done
}

// add gives s a sub_id on the stream; false when the stream has no room.
func (st *subStream) add(s *subscription) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done || st.draining || len(st.subs) >= st.max {
		return false
	}
	st.nextID++
	s.id = st.nextID
	st.subs[s.id] = s
	return true
}

// forget drops a subscription that has ended; a draining stream with none
// left closes its side, so the server ends it.
func (st *subStream) forget(id uint64) {
	st.mu.Lock()
	delete(st.subs, id)
	closeSide := st.draining && len(st.subs) == 0 && !st.done
	st.mu.Unlock()
	if closeSide {
		st.sendMu.Lock()
		_ = st.cs.CloseSend()
		st.sendMu.Unlock()
	}
}

func (st *subStream) send(f *sessionpb.SessionServiceSubscribeRequest) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	return st.cs.SendMsg(f)
}

// read hands every frame to its subscription until the stream ends, then
// fails every subscription still on it.
func (st *subStream) read() {
	for {
		r := new(sessionpb.SessionServiceSubscribeResponse)
		if err := st.cs.RecvMsg(r); err != nil {
			st.mu.Lock()
			st.done = true
			subs := st.subs
			st.subs = map[uint64]*subscription{}
			st.mu.Unlock()
			m := st.m
			m.mu.Lock()
			if m.cur == st {
				m.cur = nil
			}
			m.mu.Unlock()
			if status.Code(err) == codes.Unimplemented {
				// Open offered subscriptions, but Subscribe is not served
				// (a proxy passing only some methods): streams go plain.
				m.unsupported.Store(true)
			}
			broken := st.broken(err)
			for _, s := range subs {
				s.finish(broken)
			}
			return
		}
		id := r.GetSubId()
		if id == 0 {
			// A goaway: the server is stopping. Its subscriptions end on
			// their own; nothing new goes on this stream.
			st.mu.Lock()
			st.draining = true
			empty := len(st.subs) == 0
			st.mu.Unlock()
			if empty {
				st.sendMu.Lock()
				_ = st.cs.CloseSend()
				st.sendMu.Unlock()
			}
			continue
		}
		st.mu.Lock()
		s := st.subs[id]
		st.mu.Unlock()
		if s == nil {
			continue // cancelled here; its end frame or a late event
		}
		if e := r.GetEnd(); e != nil {
			err := endError(e)
			if status.Code(err) == codes.Unavailable {
				// This node could not serve it: its rebind goes through the
				// balancer, as a unary retry would.
				st.passUntil.Store(time.Now().Add(sessionPassOver).UnixNano())
			}
			st.forget(id)
			s.finish(err)
			continue
		}
		s.push(r.GetEvent())
	}
}

// broken is how a subscription ends when its stream broke under it: as a
// gRPC stream does when its connection breaks.
func (st *subStream) broken(cause error) error {
	if st.m.c.ctx.Err() != nil {
		return status.Error(codes.Canceled, "grpc: the client connection is closing")
	}
	msg := "waymaker: the subscription stream ended"
	if cause != nil && !errors.Is(cause, io.EOF) {
		msg += ": " + status.Convert(cause).Message()
	}
	return status.Error(codes.Unavailable, msg)
}

// endError is what RecvMsg returns after an end frame: io.EOF for a
// handler that returned nil, its status otherwise.
func endError(e *sessionpb.SessionStatus) error {
	if e.GetCode() == 0 {
		return io.EOF
	}
	return decodeAnswer(&sessionpb.SessionServiceCallResponse{Status: e}, nil, 0)
}

// subscription is one server stream carried on a Subscribe stream; it is
// the grpc.ClientStream the generated client reads.
type subscription struct {
	ctx    context.Context
	st     *subStream
	id     uint64
	method string
	md     []*sessionpb.SessionMetadata
	maxMsg int
	stop   func() bool // removes the ctx hook
	once   atomic.Bool // SendMsg ran

	// ctl orders the subscribe frame before a cancel frame.
	ctl       sync.Mutex
	sent      bool // the subscribe frame was sent
	cancelled bool // cancel ran: no subscribe frame goes

	mu     sync.Mutex
	q      [][]byte // events not yet read
	head   int
	taken  int           // events read since the last grant
	ended  bool          // no more events come
	err    error         // what RecvMsg returns once q is empty and ended
	signal chan struct{} // something was queued, or the end; made by RecvMsg's first wait
	ready  func()        // park's callback, for the next queued event or the end
}

func (s *subscription) Context() context.Context     { return s.ctx }
func (s *subscription) Header() (metadata.MD, error) { return nil, nil }
func (s *subscription) Trailer() metadata.MD         { return nil }
func (s *subscription) CloseSend() error             { return nil }

// SendMsg sends the subscription's one request.
func (s *subscription) SendMsg(m any) error {
	if s.once.Swap(true) {
		return status.Error(codes.Internal, "waymaker: a server stream takes one request")
	}
	msg, ok := m.(proto.Message)
	if !ok {
		err := status.Errorf(codes.Internal, "grpc: error while marshaling: %T is not a proto message", m)
		s.refuse(err)
		return err
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		err = status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
		s.refuse(err)
		return err
	}
	if len(b) > s.maxMsg {
		s.refuse(status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", len(b), s.maxMsg))
		return nil // RecvMsg reports it, as gRPC's stream does
	}
	s.ctl.Lock()
	if s.cancelled {
		s.ctl.Unlock()
		return nil
	}
	err = s.st.send(&sessionpb.SessionServiceSubscribeRequest{SubId: s.id, Frame: &sessionpb.SessionServiceSubscribeRequest_Subscribe{
		Subscribe: &sessionpb.SessionSubscribe{Method: s.method, Payload: b, Metadata: s.md, Credit: subscriptionCredit},
	}})
	s.sent = err == nil
	s.ctl.Unlock()
	if err != nil {
		s.st.forget(s.id)
		s.finish(s.st.broken(err))
	}
	return nil
}

// refuse ends a subscription whose request was never sent, and gives its
// place on the stream back: no end frame will come to free it.
func (s *subscription) refuse(err error) {
	s.st.forget(s.id)
	s.finish(err)
}

// RecvMsg returns the next event, or why the subscription ended.
func (s *subscription) RecvMsg(m any) error {
	for {
		s.mu.Lock()
		if s.head < len(s.q) {
			b := s.q[s.head]
			s.q[s.head] = nil
			if s.head++; s.head == len(s.q) {
				s.q, s.head = s.q[:0], 0
			}
			s.taken++
			grant := 0
			if s.taken >= subscriptionCredit/2 && !s.ended {
				grant, s.taken = s.taken, 0
			}
			s.mu.Unlock()
			if grant > 0 {
				// A failed send means the stream broke: the reader ends
				// this subscription.
				_ = s.st.send(&sessionpb.SessionServiceSubscribeRequest{SubId: s.id, Frame: &sessionpb.SessionServiceSubscribeRequest_Credit{Credit: uint32(grant)}})
			}
			msg, ok := m.(proto.Message)
			if !ok {
				return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %T is not a proto message", m)
			}
			if len(b) > s.maxMsg {
				return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", len(b), s.maxMsg)
			}
			if err := proto.Unmarshal(b, msg); err != nil {
				return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
			}
			return nil
		}
		if s.ended {
			err := s.err
			s.mu.Unlock()
			return err
		}
		if s.signal == nil {
			s.signal = make(chan struct{}, 1)
		}
		signal := s.signal
		s.mu.Unlock()
		select {
		case <-signal:
		case <-s.ctx.Done():
			s.cancel(s.ctx.Err())
			return status.FromContextError(s.ctx.Err()).Err()
		}
	}
}

// push queues an event for the reader. The server sends no more than the
// credit granted, so the queue holds at most subscriptionCredit events.
func (s *subscription) push(b []byte) {
	s.mu.Lock()
	if !s.ended {
		s.q = append(s.q, b)
	}
	s.mu.Unlock()
	s.wake()
}

// finish ends the subscription with err, unless it has ended already.
func (s *subscription) finish(err error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.err = true, err
	s.mu.Unlock()
	s.stop()
	s.wake()
}

// cancel ends the subscription because its context ended, and tells the
// server.
func (s *subscription) cancel(cause error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.err = true, status.FromContextError(cause).Err()
	s.q, s.head = nil, 0
	s.mu.Unlock()
	s.wake()
	s.ctl.Lock()
	s.cancelled = true
	sent := s.sent
	s.ctl.Unlock()
	if sent {
		// The server still counts it (max_subscriptions) until it has
		// answered the cancel: it stays on the stream until its end frame
		// comes (the reader forgets it then), or the stream ends.
		if s.st.send(&sessionpb.SessionServiceSubscribeRequest{SubId: s.id, Frame: &sessionpb.SessionServiceSubscribeRequest_Cancel{Cancel: true}}) == nil {
			return
		}
	}
	// The context may end while the interceptor is still adding s to the
	// stream: read its id as add writes it, under the stream's lock (an id
	// of 0 is not on the stream yet, and the interceptor forgets it).
	s.st.mu.Lock()
	id := s.id
	s.st.mu.Unlock()
	s.st.forget(id)
}

func (s *subscription) wake() {
	s.mu.Lock()
	if s.signal != nil {
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
	f := s.ready
	s.ready = nil
	s.mu.Unlock()
	if f != nil {
		go f()
	}
}

// park takes f to call (on a goroutine of its own) once an event is queued
// or the subscription has ended, and reports true; when one is queued or it
// has ended already it reports false, and RecvMsg returns without waiting.
// The one reader of the subscription calls it, and does not call RecvMsg
// until f runs.
func (s *subscription) park(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head < len(s.q) || s.ended {
		return false
	}
	s.ready = f
	return true
}

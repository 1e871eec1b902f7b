package transport

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/anypb"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
)

// Sessions (proto/waymaker/session/v1): a Conn carries the unary calls of
// the waymaker.v1 services as envelopes on a few long-lived bidirectional
// streams per server connection, which costs a request and a reply on an
// open stream instead of a new HTTP/2 stream per call. The path is chosen
// below every interceptor: the generated clients, Call's retries, the
// error mapping and the caller's own unary interceptors see a unary call
// either way. A call falls back to a plain unary call when the server does
// not offer sessions (it answers Open with Unimplemented, found once per
// connection), when no stream is open yet or every open one has its window
// of calls in flight, when its request is larger than the server asks
// envelopes to carry, or when it has call options or metadata keys an
// envelope cannot carry.
const (
	sessionOpenMethod = "/waymaker.session.v1.SessionService/Open"
	sessionCallMethod = "/waymaker.session.v1.SessionService/Call"
	// sessionMethods are the methods carried on sessions.
	sessionMethods = "/waymaker.v1."
	// sessionOpenTimeout bounds one Open and the opening of its stream.
	sessionOpenTimeout = 5 * time.Second
	// sessionDefaultMaxPayload bounds the requests carried when the server
	// names no bound.
	sessionDefaultMaxPayload = 64 << 10
	// sessionEnvelopeOverhead is what an envelope adds to the message it
	// carries, with room to spare: the stream accepts an answer this much
	// larger than the message limit, so every answer a unary call would
	// take fits.
	sessionEnvelopeOverhead = 1 << 10
)

// WithSessions turns the session path on (the default) or off. Off, every
// unary call is a plain gRPC unary call, as for a server that does not
// offer sessions.
func WithSessions(on bool) Option {
	return optionFunc(func(o *options) { o.noSessions = !on })
}

// sessionPool is the session streams of one gRPC connection (the balanced
// one, or a leader's named by a not_leader hint).
type sessionPool struct {
	c           *Conn
	cc          *grpc.ClientConn
	unsupported atomic.Bool // Open answered Unimplemented
	next        atomic.Uint32
	slots       []*sessionSlot
}

// sessionSlot holds at most one open stream, and opens another (in the
// background, never on a caller's path) after it ends.
type sessionSlot struct {
	p  *sessionPool
	st atomic.Pointer[sessionStream]

	mu      sync.Mutex
	opening bool
	retryAt time.Time // a failed open is not tried again before this
	fails   int
}

// sessionStream is one open Call stream.
type sessionStream struct {
	cs         grpc.ClientStream
	window     int
	maxPayload int

	sendMu sync.Mutex // one sender at a time

	mu       sync.Mutex
	calls    map[uint64]chan *sessionpb.SessionServiceCallResponse // in flight, until answered
	nextID   uint64
	draining bool          // goaway received: no new calls
	done     chan struct{} // closed when the stream has ended
	err      error         // why it ended

	// passUntil (unix nanoseconds) is when the stream is offered calls
	// again after its server could not serve one (see couldNotServe).
	passUntil atomic.Int64
}

// sessionPassOver is how long a stream whose server answered that it
// could not serve a call (no leader it can reach, not caught up) is passed
// over, so the call's retry reaches another node as a unary retry does
// through the balancer. A stream is tied to the node it opened on; without
// this, a retry could land on the same node every time.
const sessionPassOver = time.Second

// sessions returns cc's pool, nil when sessions are off.
func (c *Conn) sessions(cc *grpc.ClientConn) *sessionPool {
	if c.opts.noSessions {
		return nil
	}
	if p, ok := c.sessMap.Load(cc); ok {
		return p.(*sessionPool)
	}
	n := min(max(2, len(c.addrs)), 4)
	p := &sessionPool{c: c, cc: cc, slots: make([]*sessionSlot, n)}
	for i := range p.slots {
		p.slots[i] = &sessionSlot{p: p}
	}
	actual, _ := c.sessMap.LoadOrStore(cc, p)
	return actual.(*sessionPool)
}

// sessionInterceptor is the innermost unary client interceptor of every
// connection a Conn dials: it sends the call as an envelope when it can,
// and otherwise hands it to invoker as a unary call.
func (c *Conn) sessionInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if c.opts.noSessions || !strings.HasPrefix(method, sessionMethods) || !envelopeOptions(opts) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	p := c.sessions(cc)
	if p.unsupported.Load() {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	handled, err := p.invoke(ctx, method, req, reply)
	if !handled || answerTooLarge(err) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	return err
}

// sessionAnswerTooLarge starts the status message of a call whose answer
// fits a unary reply but not an envelope (the server's
// session.AnswerTooLarge): it is made again as a unary call, as a read, a
// call carrying a request id, or a lock call (answered by its lease) may be.
const sessionAnswerTooLarge = "waymaker: session: answer too large for an envelope"

func answerTooLarge(err error) bool {
	if err == nil {
		return false
	}
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.ResourceExhausted && strings.HasPrefix(s.Message(), sessionAnswerTooLarge)
}

// envelopeOptions reports whether a call's options allow an envelope: the
// message size limits (the Conn's own, applied here too) and the generated
// clients' StaticMethod mark. Anything else (headers, trailers, peer,
// WaitForReady, a compressor) takes the unary path, which honours it.
func envelopeOptions(opts []grpc.CallOption) bool {
	for _, o := range opts {
		switch o.(type) {
		case grpc.MaxRecvMsgSizeCallOption, grpc.MaxSendMsgSizeCallOption, grpc.StaticMethodCallOption:
		default:
			return false
		}
	}
	return true
}

// invoke sends one call on a stream of the pool. handled is false when the
// call was not sent and should go unary.
func (p *sessionPool) invoke(ctx context.Context, method string, req, reply any) (handled bool, err error) {
	in, ok := req.(proto.Message)
	out, ok2 := reply.(proto.Message)
	if !ok || !ok2 {
		return false, nil
	}
	env := &sessionpb.SessionServiceCallRequest{Method: method}
	if md, ok := metadata.FromOutgoingContext(ctx); ok {
		if env.Metadata, ok = envelopeMetadata(md); !ok {
			return false, nil
		}
	}
	size := proto.Size(in)
	if size > p.c.opts.maxMsg {
		return false, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		if d <= 0 {
			return true, status.FromContextError(context.DeadlineExceeded).Err()
		}
		env.TimeoutMs = int64((d + time.Millisecond - 1) / time.Millisecond)
	}
	if err := ctx.Err(); err != nil {
		return true, status.FromContextError(err).Err()
	}
	// in is not changed between Size and here, so its cached size holds.
	env.Payload, err = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(make([]byte, 0, size), in)
	if err != nil {
		return true, status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	st, id, ch := p.reserve(size)
	if st == nil {
		return false, nil
	}
	env.CallId = id
	if err := st.send(env); err != nil {
		// gRPC sent nothing of a message whose SendMsg failed (the stream
		// had ended): the call goes unary instead.
		st.release(id)
		return false, nil
	}
	select {
	case r := <-ch:
		// Answered: the reader has dropped ch from the stream, so it is
		// empty and nothing else holds it. (A call that gives up below
		// leaves its channel to the reader, and it is not reused.)
		answerChans.Put(ch)
		err := decodeAnswer(r, out, p.c.opts.maxMsg)
		if couldNotServe(out, err) {
			st.passUntil.Store(time.Now().Add(sessionPassOver).UnixNano())
		}
		return true, err
	case <-st.done:
		// The answer may have arrived just before the end.
		select {
		case r := <-ch:
			return true, decodeAnswer(r, out, p.c.opts.maxMsg)
		default:
		}
		return true, st.broken(p.c, st.err)
	case <-ctx.Done():
		// The server cancels the handler and still answers; the slot is
		// free once it has (so the server never runs more than the window).
		_ = st.send(&sessionpb.SessionServiceCallRequest{CallId: id, Cancel: true})
		return true, status.FromContextError(ctx.Err()).Err()
	}
}

// couldNotServe reports whether an answer says its server could not serve
// the call and another node might: a gRPC Unavailable (its routing found no
// leader within the hold), a reply whose Result is "unavailable" (a
// handler's read barrier found no leader, or did not catch up to the
// leader's read index, within the hold), or not_leader with no hint.
func couldNotServe(out proto.Message, err error) bool {
	if err != nil {
		return status.Code(err) == codes.Unavailable
	}
	r, ok := out.(Response)
	if !ok {
		return false
	}
	switch res := r.GetResult(); {
	case res == nil:
		return false
	case res.GetResultCode() == CodeUnavailable:
		return true
	default:
		return res.GetResultCode() == CodeNotLeader && res.GetLeaderHint() == ""
	}
}

// envelopeMetadata converts a call's outgoing metadata; ok is false for
// keys an envelope may not carry (reserved ones), which go unary.
func envelopeMetadata(md metadata.MD) ([]*sessionpb.SessionMetadata, bool) {
	out := make([]*sessionpb.SessionMetadata, 0, len(md))
	for k, vs := range md {
		if strings.HasPrefix(k, ":") || strings.HasPrefix(k, "grpc-") {
			return nil, false
		}
		e := &sessionpb.SessionMetadata{Key: k, Values: make([][]byte, len(vs))}
		for i, v := range vs {
			e.Values[i] = []byte(v)
		}
		out = append(out, e)
	}
	return out, true
}

// decodeAnswer turns an answer into what a unary call returns: the
// response in out, or the call's status error.
func decodeAnswer(r *sessionpb.SessionServiceCallResponse, out proto.Message, maxMsg int) error {
	if s := r.GetStatus(); s != nil {
		st := status.New(codes.Code(s.GetCode()), s.GetMessage())
		if len(s.GetDetails()) > 0 {
			ds := make([]protoadapt.MessageV1, 0, len(s.GetDetails()))
			for _, a := range s.GetDetails() {
				if m, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{}); err == nil {
					ds = append(ds, protoadapt.MessageV1Of(m))
				}
			}
			if wd, err := st.WithDetails(ds...); err == nil {
				st = wd
			}
		}
		return st.Err()
	}
	if n := len(r.GetPayload()); n > maxMsg {
		return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, maxMsg)
	}
	if err := proto.Unmarshal(r.GetPayload(), out); err != nil {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	return nil
}

// broken is the error of a call whose stream failed under it: its outcome
// is unknown, as for a unary call whose connection broke, so it is
// Unavailable, which Call retries only when the call may be sent again.
func (st *sessionStream) broken(c *Conn, cause error) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	msg := "the session stream ended"
	if cause != nil {
		msg += ": " + status.Convert(cause).Message()
	}
	return status.Error(codes.Unavailable, "waymaker: "+msg+"; the call's outcome is unknown")
}

// reserve takes a slot of the window of an open stream, trying them
// round-robin, for a request of size bytes; it answers a nil stream (after
// starting to open one where a slot is empty) when none has room. Streams
// being passed over are skipped; when every open one is, the call goes
// unary, through the balancer, which may reach a node no stream is on.
func (p *sessionPool) reserve(size int) (*sessionStream, uint64, chan *sessionpb.SessionServiceCallResponse) {
	n := uint32(len(p.slots))
	start := p.next.Add(1)
	var now int64 // read once, and only when a stream has been passed over
	for i := range n {
		s := p.slots[(start+i)%n]
		st := s.st.Load()
		if st == nil {
			s.ensureOpen()
			continue
		}
		if until := st.passUntil.Load(); until != 0 {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			if now < until {
				continue
			}
		}
		if size > st.maxPayload {
			return nil, 0, nil
		}
		if id, ch, ok := st.reserve(); ok {
			return st, id, ch
		}
	}
	return nil, 0, nil
}

// ensureOpen starts opening a stream in the slot unless one is being
// opened, or the last attempt failed a moment ago.
func (s *sessionSlot) ensureOpen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opening || s.st.Load() != nil || s.p.unsupported.Load() || time.Now().Before(s.retryAt) {
		return
	}
	s.opening = true
	if !s.p.c.Go(s.run) {
		s.opening = false
	}
}

// run opens a stream, serves its answers until it ends, and clears the
// slot. It runs as a goroutine of the Conn, so Close ends and waits for it.
func (s *sessionSlot) run(ctx context.Context) {
	st, err := s.open(ctx)
	s.mu.Lock()
	s.opening = false
	if err != nil {
		s.fails++
		s.retryAt = time.Now().Add(min(time.Duration(s.fails)*100*time.Millisecond, time.Second))
		s.mu.Unlock()
		s.p.c.opts.logger.Debug("waymaker: no session stream; calls go unary")
		return
	}
	s.fails = 0
	s.st.Store(st)
	s.mu.Unlock()
	st.read()
	s.st.CompareAndSwap(st, nil)
}

// open asks the server for its session parameters and opens a Call stream.
func (s *sessionSlot) open(ctx context.Context) (*sessionStream, error) {
	p := s.p
	octx, cancel := context.WithTimeout(ctx, sessionOpenTimeout)
	defer cancel()
	var params sessionpb.SessionServiceOpenResponse
	if err := p.cc.Invoke(octx, sessionOpenMethod, &sessionpb.SessionServiceOpenRequest{}, &params); err != nil {
		if status.Code(err) == codes.Unimplemented {
			p.unsupported.Store(true)
		}
		return nil, err
	}
	if !params.GetResult().GetSuccess() || params.GetWindow() == 0 {
		p.unsupported.Store(true)
		return nil, status.Error(codes.Unimplemented, "waymaker: the server offers no sessions")
	}
	cs, err := p.cc.NewStream(ctx, &sessionpb.SessionService_ServiceDesc.Streams[0], sessionCallMethod,
		grpc.MaxCallRecvMsgSize(p.c.opts.maxMsg+sessionEnvelopeOverhead))
	if err != nil {
		return nil, err
	}
	maxPayload := int(params.GetMaxPayloadBytes())
	if maxPayload == 0 {
		maxPayload = sessionDefaultMaxPayload
	}
	return &sessionStream{
		cs:         cs,
		window:     int(params.GetWindow()),
		maxPayload: maxPayload,
		calls:      map[uint64]chan *sessionpb.SessionServiceCallResponse{},
		done:       make(chan struct{}),
	}, nil
}

// answerChans holds the one-answer channels of calls that were answered,
// for later calls: an answered call's channel is empty and held by no one.
var answerChans = sync.Pool{New: func() any { return make(chan *sessionpb.SessionServiceCallResponse, 1) }}

// reserve takes a slot of the window for a new call.
func (st *sessionStream) reserve() (uint64, chan *sessionpb.SessionServiceCallResponse, bool) {
	ch := answerChans.Get().(chan *sessionpb.SessionServiceCallResponse)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.calls == nil || st.draining || len(st.calls) >= st.window {
		answerChans.Put(ch)
		return 0, nil, false
	}
	st.nextID++
	st.calls[st.nextID] = ch
	return st.nextID, ch, true
}

// release gives back the slot of a call that was not sent.
func (st *sessionStream) release(id uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.calls != nil {
		delete(st.calls, id)
	}
}

func (st *sessionStream) send(f *sessionpb.SessionServiceCallRequest) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	return st.cs.SendMsg(f)
}

// read delivers answers until the stream ends, then fails every call
// still in flight on it.
func (st *sessionStream) read() {
	for {
		r := new(sessionpb.SessionServiceCallResponse)
		if err := st.cs.RecvMsg(r); err != nil {
			st.mu.Lock()
			st.err = err
			st.calls = nil
			close(st.done)
			st.mu.Unlock()
			return
		}
		if r.GetCallId() == 0 {
			// A goaway: the server is stopping. Its answers to what was
			// sent still come; nothing new is sent here.
			st.mu.Lock()
			st.draining = true
			st.mu.Unlock()
			st.sendMu.Lock()
			_ = st.cs.CloseSend()
			st.sendMu.Unlock()
			continue
		}
		st.mu.Lock()
		ch := st.calls[r.GetCallId()]
		delete(st.calls, r.GetCallId())
		st.mu.Unlock()
		if ch != nil {
			ch <- r // buffered: a caller that gave up does not block this
		}
	}
}

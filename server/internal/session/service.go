// Package session serves the SessionService (proto/waymaker/session/v1):
// the unary calls of every registered service, carried as envelopes on
// long-lived bidirectional streams.
//
// An envelope reaches the very handler its unary method reaches: the
// Registrar records each service's generated method handlers as they are
// registered, and each envelope is dispatched to its handler behind the
// gRPC server's own unary interceptor chain (the starting gate, cluster
// routing, metrics, the request log, and every interceptor in
// Config.GRPCOptions), so nothing about an operation is implemented twice.
// The chain is the one gRPC passes to every unary handler; the service
// takes it from its own Open handler, which a client calls before each
// Call stream.
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
)

// Defaults of Config.
const (
	// DefaultWindow is the most calls in flight on one stream.
	DefaultWindow = 128
	// DefaultMaxPayload is the largest request payload the server asks
	// envelopes to carry: a larger one would hold the stream (and every
	// call behind it) while it is transferred, so it goes unary.
	DefaultMaxPayload = 64 << 10
)

// AnswerTooLarge starts the message of a call whose answer does not fit in
// an envelope under the server's message limit, though it fits a unary
// answer; the client makes the call again as a unary call.
const AnswerTooLarge = "waymaker: session: answer too large for an envelope; make the call unary"

// envelopeOverhead bounds what an answer envelope adds to its payload
// (call id, field tags and lengths).
const envelopeOverhead = 64

// Bounds of an envelope's own metadata.
const (
	maxMetadataBytes = 16 << 10
	// maxTimeoutMs caps a relative deadline (about 34 years), so the
	// conversion to a time.Duration cannot overflow.
	maxTimeoutMs = 1 << 40
)

// Config configures a Service.
type Config struct {
	// Window is the most calls one stream may have in flight (default
	// DefaultWindow).
	Window int
	// MaxPayload is the largest request payload envelopes should carry
	// (default DefaultMaxPayload); it is advice to the client.
	MaxPayload int
	// MaxMessage is the server's send limit (Limits.MaxMessageSize): an
	// answer that would not fit in an envelope under it is answered
	// ResourceExhausted with ErrAnswerTooLarge's message, and the client
	// makes the call again as a unary call. 0 is no limit.
	MaxMessage int
	// MaxSubscriptions is the most live subscriptions one Subscribe stream
	// carries (default DefaultMaxSubscriptions); negative offers no
	// Subscribe (Open answers max_subscriptions 0).
	MaxSubscriptions int
	// StreamChain is the server's stream interceptor chain, which every
	// subscription passes as a gRPC stream of its method would; nil is
	// none. gRPC hands a stream handler no chain, so the server names it.
	StreamChain grpc.StreamServerInterceptor
	// Stopping, when closed, makes every stream send a goaway: the server
	// is stopping, the client sends no more, and the stream ends once its
	// calls are answered and the client has closed its side.
	Stopping <-chan struct{}
	// WorkerIdle is how long a stream's worker goroutine waits for another
	// call before it ends (default DefaultWorkerIdle).
	WorkerIdle time.Duration
}

// Service is the SessionService.
type Service struct {
	sessionpb.UnimplementedSessionServiceServer
	reg *Registrar
	cfg Config
	ic  atomic.Pointer[chain]
	// workers counts the worker goroutines of every stream.
	workers atomic.Int64
}

// chain is the gRPC server's unary interceptor chain (nil when it has none).
type chain struct{ ic grpc.UnaryServerInterceptor }

// New returns the service dispatching to the methods recorded by reg.
func New(reg *Registrar, cfg Config) *Service {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.WorkerIdle <= 0 {
		cfg.WorkerIdle = DefaultWorkerIdle
	}
	return &Service{reg: reg, cfg: cfg}
}

// Register registers the service on g, the gRPC server whose unary
// methods it dispatches to. Its Open handler records the interceptor chain
// gRPC hands it, which is the chain every unary handler of g is given.
func (s *Service) Register(g grpc.ServiceRegistrar) {
	desc := sessionpb.SessionService_ServiceDesc
	desc.Methods = slices.Clone(desc.Methods)
	for i := range desc.Methods {
		if desc.Methods[i].MethodName != "Open" {
			continue
		}
		open := desc.Methods[i].Handler
		desc.Methods[i].Handler = func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			if s.ic.Load() == nil {
				s.ic.Store(&chain{ic: ic})
			}
			return open(srv, ctx, dec, ic)
		}
	}
	g.RegisterService(&desc, s)
}

// Open answers the session parameters.
func (s *Service) Open(context.Context, *sessionpb.SessionServiceOpenRequest) (*sessionpb.SessionServiceOpenResponse, error) {
	return &sessionpb.SessionServiceOpenResponse{
		Result:           &commonpb.Result{Success: true},
		Window:           uint32(s.cfg.Window),
		MaxPayloadBytes:  uint32(s.cfg.MaxPayload),
		MaxSubscriptions: uint32(s.maxSubscriptions()),
	}, nil
}

func (s *Service) maxSubscriptions() int {
	switch n := s.cfg.MaxSubscriptions; {
	case n < 0:
		return 0
	case n == 0:
		return DefaultMaxSubscriptions
	default:
		return n
	}
}

// errNoOpen ends a Call stream on a server whose Open has never run, so
// the interceptor chain is not known yet.
var errNoOpen = status.Error(codes.FailedPrecondition, "waymaker: session: call SessionService/Open before Call")

// Call serves one stream: a reader takes frames and hands each call to a
// worker goroutine of the stream (at most Window calls at once), and this
// goroutine, the one writer, sends every answer.
func (s *Service) Call(st sessionpb.SessionService_CallServer) error {
	c := s.ic.Load()
	if c == nil {
		return errNoOpen
	}
	ctx, cancel := context.WithCancel(st.Context())
	t := &stream{s: s, ic: c.ic, ctx: ctx, out: make(chan *sessionpb.SessionServiceCallResponse, s.cfg.Window+1), calls: map[uint64]context.CancelFunc{}, work: make(chan call)}
	// Idle workers end with ctx; every return below has first waited for
	// the calls in flight (t.wg), so no worker is started after this Wait.
	defer t.workers.Wait()
	defer cancel()
	t.streamMD, _ = metadata.FromIncomingContext(ctx)
	recvErr := make(chan error, 1)
	go func() { recvErr <- t.read(st) }()

	stopping := s.cfg.Stopping
	var handlersDone chan struct{}
	var readErr error
	for {
		select {
		case r := <-t.out:
			if err := st.Send(r); err != nil {
				t.end(cancel)
				return err
			}
		case <-stopping:
			stopping = nil
			if err := st.Send(&sessionpb.SessionServiceCallResponse{Status: &sessionpb.SessionStatus{
				Code: int32(codes.Unavailable), Message: "waymaker: server is stopping; open another session",
			}}); err != nil {
				t.end(cancel)
				return err
			}
		case readErr = <-recvErr:
			if !isEOF(readErr) {
				// The client went away, or broke the protocol: its calls
				// are cancelled, as unary calls are when their client goes.
				t.end(cancel)
				return readErr
			}
			// The client closed its side: answer what is in flight.
			handlersDone = make(chan struct{})
			go func() {
				t.wg.Wait()
				close(handlersDone)
			}()
			recvErr = nil
		case <-handlersDone:
			for {
				select {
				case r := <-t.out:
					if err := st.Send(r); err != nil {
						return err
					}
				default:
					return nil
				}
			}
		}
	}
}

// errEnded stops the reader of a stream whose handler has returned.
var errEnded = status.Error(codes.Canceled, "waymaker: session: the stream has ended")

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// stream is the state of one Call stream.
type stream struct {
	s        *Service
	ic       grpc.UnaryServerInterceptor
	ctx      context.Context
	streamMD metadata.MD
	out      chan *sessionpb.SessionServiceCallResponse
	wg       sync.WaitGroup // calls in flight

	// work hands a call to an idle worker; unbuffered, so a send succeeds
	// only when one is waiting, and otherwise start starts another.
	// Workers outlive their calls so that a call does not pay for a new
	// goroutine and for growing its stack through the handler chain.
	work    chan call
	workers sync.WaitGroup

	mu    sync.Mutex
	calls map[uint64]context.CancelFunc // in flight
	// ended is set once the handler stops waiting for calls: the reader,
	// which may still be in Recv when Call returns, starts none after it.
	ended bool
}

// end cancels the stream's calls and waits for them. The reader goroutine
// outlives Call (its Recv returns only once gRPC ends the stream, after
// Call returns), so a frame it takes meanwhile must not start a call that
// nothing waits for: one would run its handler after the server's Stop
// had moved on to shutting down raft, and its wg.Add would race this Wait.
func (t *stream) end(cancel context.CancelFunc) {
	t.mu.Lock()
	t.ended = true
	t.mu.Unlock()
	cancel()
	t.wg.Wait()
}

// read takes frames until the stream ends (io.EOF when the client closed
// its side) or a frame breaks the protocol.
func (t *stream) read(st sessionpb.SessionService_CallServer) error {
	for {
		f, err := st.Recv()
		if err != nil {
			return err
		}
		if f.GetCallId() == 0 {
			return status.Error(codes.InvalidArgument, "waymaker: session: call_id must not be 0")
		}
		if f.GetCancel() {
			t.mu.Lock()
			if cancel, ok := t.calls[f.GetCallId()]; ok {
				cancel()
			}
			t.mu.Unlock()
			continue
		}
		if err := t.start(f); err != nil {
			return err
		}
	}
}

// call is one envelope handed to a worker, with its own context.
type call struct {
	f      *sessionpb.SessionServiceCallRequest
	ctx    context.Context
	cancel context.CancelFunc
}

// DefaultWorkerIdle is how long a worker waits for another call before it
// ends: a stream keeps about as many workers as it has recently had calls
// in flight, and an idle stream keeps none.
const DefaultWorkerIdle = 2 * time.Second

// start hands the call f to a worker, or answers at once when the window
// is full. A call id already in flight breaks the protocol.
func (t *stream) start(f *sessionpb.SessionServiceCallRequest) error {
	id := f.GetCallId()
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return errEnded
	}
	if _, dup := t.calls[id]; dup {
		t.mu.Unlock()
		return status.Errorf(codes.InvalidArgument, "waymaker: session: call_id %d is already in flight on this stream", id)
	}
	if len(t.calls) >= t.s.cfg.Window {
		t.mu.Unlock()
		t.send(answer(id, nil, status.Errorf(codes.ResourceExhausted,
			"waymaker: session: more than %d calls in flight on one stream (the window Open answered); the call was not run", t.s.cfg.Window)))
		return nil
	}
	ctx, cancel := callContext(t.ctx, f.GetTimeoutMs())
	t.calls[id] = cancel
	t.wg.Add(1)
	t.mu.Unlock()
	c := call{f: f, ctx: ctx, cancel: cancel}
	select {
	case t.work <- c:
	default:
		// Added before the call is answered, so before Call's wait for
		// the workers, which follows its wait for the calls.
		t.workers.Add(1)
		t.s.workers.Add(1)
		go t.worker(c)
	}
	return nil
}

// callContext is the context of a call: cancelled by a cancel frame or the
// stream's end, and by its timeout when it has one (one context for both).
// A negative timeout is refused by dispatch.
func callContext(parent context.Context, timeoutMs int64) (context.Context, context.CancelFunc) {
	if timeoutMs > 0 {
		return context.WithTimeout(parent, time.Duration(min(timeoutMs, maxTimeoutMs))*time.Millisecond)
	}
	return context.WithCancel(parent)
}

// worker runs c, then each call handed to it, until it has waited
// WorkerIdle for one or the stream has ended.
func (t *stream) worker(c call) {
	defer t.workers.Done()
	defer t.s.workers.Add(-1)
	idle := time.NewTimer(t.s.cfg.WorkerIdle)
	defer idle.Stop()
	for {
		t.run(c)
		idle.Reset(t.s.cfg.WorkerIdle)
		select {
		case c = <-t.work:
		case <-idle.C:
			return
		case <-t.ctx.Done():
			return
		}
	}
}

// run runs one call and queues its answer.
func (t *stream) run(c call) {
	defer t.wg.Done()
	id := c.f.GetCallId()
	resp, err := t.s.dispatch(c.ctx, t.ic, t.streamMD, c.f)
	t.mu.Lock()
	delete(t.calls, id)
	t.mu.Unlock()
	c.cancel()
	t.send(answer(id, resp, err))
}

// send queues an answer for the writer. out holds a whole window, so it
// only waits when the writer has stopped, and then the stream's context
// has ended.
func (t *stream) send(r *sessionpb.SessionServiceCallResponse) {
	select {
	case t.out <- r:
	case <-t.ctx.Done():
	}
}

func answer(id uint64, payload []byte, err error) *sessionpb.SessionServiceCallResponse {
	r := &sessionpb.SessionServiceCallResponse{CallId: id}
	if err != nil {
		st := status.Convert(err)
		r.Status = &sessionpb.SessionStatus{Code: int32(st.Code()), Message: st.Message(), Details: st.Proto().GetDetails()}
		return r
	}
	r.Payload = payload
	return r
}

// Dispatch runs one envelope on the method it names, behind the chain ic,
// as the unary call would run, and answers the serialized response or the
// call's status error. streamMD is the stream's incoming metadata; ctx
// carries the call's timeout already (callContext).
func (s *Service) dispatch(ctx context.Context, ic grpc.UnaryServerInterceptor, streamMD metadata.MD, f *sessionpb.SessionServiceCallRequest) ([]byte, error) {
	m, ok := s.reg.lookup(f.GetMethod())
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "waymaker: session: unknown method %q: not a unary method of a service this server offers", f.GetMethod())
	}
	md, err := callMetadata(streamMD, f.GetMetadata())
	if err != nil {
		return nil, err
	}
	ctx = metadata.NewIncomingContext(ctx, md)
	if ms := f.GetTimeoutMs(); ms < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "waymaker: session: timeout_ms %d must not be negative", ms)
	}
	ctx = grpc.NewContextWithServerTransportStream(ctx, m.stream)
	payload := f.GetPayload()
	dec := func(v any) error {
		msg, ok := v.(proto.Message)
		if !ok {
			return status.Errorf(codes.Internal, "grpc: error unmarshalling request: %T is not a proto message", v)
		}
		if err := proto.Unmarshal(payload, msg); err != nil {
			return status.Errorf(codes.Internal, "grpc: error unmarshalling request: %v", err)
		}
		return nil
	}
	resp, err := m.handler(m.impl, ctx, dec, ic)
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			err = status.FromContextError(err).Err()
		}
		return nil, err
	}
	msg, ok := resp.(proto.Message)
	if !ok || msg == nil {
		return nil, status.Errorf(codes.Internal, "grpc: error while marshaling: %s answered %T", f.GetMethod(), resp)
	}
	b, err := proto.Marshal(msg)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	if s.cfg.MaxMessage > 0 && len(b) > s.cfg.MaxMessage-envelopeOverhead {
		return nil, status.Errorf(codes.ResourceExhausted, "%s (%d bytes)", AnswerTooLarge, len(b))
	}
	return b, nil
}

// callMetadata is the stream's metadata (its credentials) joined with the
// call's own, which must not use reserved keys.
func callMetadata(streamMD metadata.MD, entries []*sessionpb.SessionMetadata) (metadata.MD, error) {
	if len(entries) == 0 {
		return streamMD, nil
	}
	md := streamMD.Copy()
	if md == nil {
		md = metadata.MD{}
	}
	size := 0
	for i, e := range entries {
		k := e.GetKey()
		if err := checkKey(k); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "waymaker: session: metadata[%d] key %q: %v", i, k, err)
		}
		size += len(k)
		for _, v := range e.GetValues() {
			size += len(v)
			md[k] = append(md[k], string(v))
		}
		if size > maxMetadataBytes {
			return nil, status.Errorf(codes.InvalidArgument, "waymaker: session: metadata is over %d bytes", maxMetadataBytes)
		}
	}
	return md, nil
}

func checkKey(k string) error {
	if k == "" {
		return fmt.Errorf("must not be empty")
	}
	if strings.HasPrefix(k, ":") || strings.HasPrefix(k, "grpc-") {
		return fmt.Errorf("is reserved")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("may hold only [a-z0-9-_.]")
		}
	}
	return nil
}

// envelopeStream is the grpc.ServerTransportStream of a call carried in an
// envelope: grpc.Method(ctx) names the call's method. Headers and trailers
// a handler sets have nowhere to go and are dropped (no waymaker handler
// sets any: every answer travels in the response message).
type envelopeStream string

func (m envelopeStream) Method() string             { return string(m) }
func (envelopeStream) SetHeader(metadata.MD) error  { return nil }
func (envelopeStream) SendHeader(metadata.MD) error { return nil }
func (envelopeStream) SetTrailer(metadata.MD) error { return nil }

package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Reconnect schedule (see the package doc): while a server is down, a Conn
// tries again at most reconnectMaxDelay (±20% jitter) after each failed
// attempt, so it is back at most 0.6 s after the server is.
const (
	reconnectBaseDelay = 100 * time.Millisecond
	reconnectMaxDelay  = 500 * time.Millisecond
	// connectTimeout bounds one connection attempt (TCP and TLS handshake):
	// through a partition that drops packets, the next attempt starts at
	// most this long after the last.
	connectTimeout = 2 * time.Second
)

// Conn is a connection to one or several waymaker servers. It implements
// grpc.ClientConnInterface, so generated clients are built on it, and it
// owns every background goroutine the SDK starts for it: Close ends them all.
//
// A Conn is safe for concurrent use. Dial does not wait for the network; the
// first call connects, and calls made while no server is reachable fail (or,
// when idempotent, retry) with Unavailable.
type Conn struct {
	cc    *grpc.ClientConn
	opts  options
	addrs []string

	// route, when set, is a direct connection to the leader named by the
	// last not_leader hint; calls go there first.
	route   atomic.Pointer[grpc.ClientConn]
	hintsMu sync.Mutex
	hints   map[string]*grpc.ClientConn

	// sessMap holds each gRPC connection's session streams
	// (*grpc.ClientConn → *sessionPool, session.go).
	sessMap sync.Map
	// subMap holds each gRPC connection's Subscribe stream
	// (*grpc.ClientConn → *subMux, subscribe.go).
	subMap sync.Map

	// ends are the bound contexts (Bind, endctx.go), ended by Close.
	endsMu     sync.Mutex
	ends       map[*endCtx]struct{}
	endsClosed bool

	// handshake keeps the last TLS handshake failure (nil after a success),
	// so a call that fails while the connection is down says why.
	handshake handshakeLog

	ctx    context.Context // ends when Close is called
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup

	// closing and onClose: see OnClose (closehook.go); guarded by mu.
	closing bool
	onClose []func()
}

var _ grpc.ClientConnInterface = (*Conn)(nil)

// Dial returns a Conn to the servers at addrs (host:port). With several
// addresses, calls are balanced round-robin over them. ctx is only checked;
// Dial does not block on the network.
func Dial(ctx context.Context, addrs []string, opts ...Option) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, MapError(ctx, err)
	}
	if len(addrs) == 0 {
		return nil, Invalid("addrs", "at least one server address is required")
	}
	for i, a := range addrs {
		if strings.TrimSpace(a) == "" {
			return nil, Invalid("addrs", "address %d is empty", i)
		}
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.err != nil {
		return nil, o.err
	}
	c := &Conn{opts: o, addrs: append([]string(nil), addrs...), hints: map[string]*grpc.ClientConn{}}
	target, dopts := c.target(addrs)
	cc, err := grpc.NewClient(target, c.dialOptions(dopts)...)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Code: CodeInvalidArgument, Message: "addrs: " + err.Error(), Err: err}
	}
	c.cc = cc
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// The SDK's keepalive: ping after keepaliveTime without reads, give up on
// the connection keepaliveTimeout later. 10 s is the shortest time gRPC
// allows (it raises anything shorter to 10 s); waymakerd permits a ping
// every 5 s. A call to a frozen node therefore fails over after about 12 s.
const (
	keepaliveTime    = 10 * time.Second
	keepaliveTimeout = 2 * time.Second
)

// The HTTP/2 flow-control windows, fixed, as the server fixes its own:
// gRPC's default estimates the bandwidth-delay product by sending a PING
// with the first DATA frame it receives after its last estimate, which on
// a connection of one call at a time is every reply, and each costs the
// server a write to answer. A caller on a long fat link that needs more
// passes grpc.WithStaticStreamWindowSize / WithStaticConnWindowSize (or
// grpc.WithInitialWindowSize) through WithDialOptions, which come later
// and win.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

func (c *Conn) baseDialOptions() []grpc.DialOption {
	var tc credentials.TransportCredentials = insecure.NewCredentials()
	if c.opts.tls != nil {
		tc = &recordingCreds{TransportCredentials: credentials.NewTLS(c.opts.tls), log: &c.handshake}
	}
	d := []grpc.DialOption{
		grpc.WithTransportCredentials(tc),
		// Detect a dead or frozen peer (killed host, SIGSTOP, a partition
		// that drops packets) within about 12 s, so calls waiting on it fail
		// over and held locks and watches rebind inside a lease. A
		// frozen node keeps its TCP connection open, so only a ping tells.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
		// gRPC's default reconnect backoff grows to 120 s, so a long-lived
		// Conn noticed a restarted server seconds to minutes late. Capped at
		// 0.5 s, a down server costs a refused connection attempt twice a
		// second per Conn.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: reconnectBaseDelay, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMaxDelay},
			MinConnectTimeout: connectTimeout,
		}),
		// One message limit on both sides: the server's default
		// Limits.MaxMessageSize is MaxMessageSize too.
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(c.opts.maxMsg), grpc.MaxCallRecvMsgSize(c.opts.maxMsg)),
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
	}
	if c.opts.creds != nil {
		d = append(d, grpc.WithPerRPCCredentials(c.opts.creds))
	}
	return d
}

// dialOptions are base, then the caller's (WithDialOptions), then the
// session path's interceptors, innermost, so that the caller's interceptors
// see every call whichever way it travels.
func (c *Conn) dialOptions(base []grpc.DialOption) []grpc.DialOption {
	return append(append(base, c.opts.dialOpts...),
		grpc.WithChainUnaryInterceptor(c.sessionInterceptor), grpc.WithChainStreamInterceptor(c.subscribeInterceptor))
}

func (c *Conn) target(addrs []string) (string, []grpc.DialOption) {
	d := c.baseDialOptions()
	if len(addrs) == 1 {
		if host, _, err := net.SplitHostPort(addrs[0]); err == nil && host != "localhost" && net.ParseIP(host) == nil {
			// A DNS name may stand for a whole cluster (several A records):
			// resolve it with gRPC's DNS resolver and balance over every
			// address, skipping those that do not answer, and re-resolve
			// when connections fail.
			d = append(d, grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
			return "dns:///" + addrs[0], d
		}
		return "passthrough:///" + addrs[0], d
	}
	r := manual.NewBuilderWithScheme("waymaker")
	state := resolver.State{}
	for _, a := range addrs {
		// Each address is verified against its own host: the target's
		// authority ("servers") names no server, so a TLS handshake
		// checking it would fail with a name mismatch on every node.
		ra := resolver.Address{Addr: a}
		if host, _, err := net.SplitHostPort(a); err == nil {
			ra.ServerName = host
		}
		state.Addresses = append(state.Addresses, ra)
	}
	r.InitialState(state)
	d = append(d, grpc.WithResolvers(r), grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	return r.Scheme() + ":///servers", d
}

// Logger returns the Conn's logger (never nil).
func (c *Conn) Logger() *zap.Logger { return c.opts.logger }

// Addrs returns the addresses the Conn was dialed with.
func (c *Conn) Addrs() []string { return append([]string(nil), c.addrs...) }

// Invoke implements grpc.ClientConnInterface. A request that encodes to
// more than the Conn's message limit is refused before it is sent
// (KindInvalid, naming the limit). gRPC's own send limit, set to the same
// value, finds it while encoding, so a call within the limit pays nothing
// for the check; the request is sized again only when gRPC refused it.
func (c *Conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if c.isClosed() {
		return ErrClosed
	}
	cc := c.pick()
	if err := cc.Invoke(ctx, method, args, reply, opts...); err != nil {
		if status.Code(err) == codes.ResourceExhausted {
			if m, ok := args.(proto.Message); ok {
				if n := proto.Size(m); n > c.opts.maxMsg {
					return &Error{Kind: KindInvalid, Code: CodeInvalidArgument, Err: err, Message: fmt.Sprintf(
						"request: %s encodes to %d bytes, above the message limit of %d bytes (transport.MaxMessageSize, WithMaxMessageSize; the server's Limits.MaxMessageSize); nothing was sent",
						method, n, c.opts.maxMsg)}
				}
			}
		}
		return c.connError(ctx, cc, err)
	}
	return nil
}

// NewStream implements grpc.ClientConnInterface.
func (c *Conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	cc := c.pick()
	if cc.GetState() != connectivity.Ready {
		c.awaitReady(ctx, cc)
	}
	st, err := cc.NewStream(ctx, desc, method, opts...)
	if err != nil {
		return nil, c.connError(ctx, cc, err)
	}
	return st, nil
}

// connError explains a call that failed because cc's latest connection
// attempt failed its TLS handshake (or, on a plaintext Conn, met a server
// that may be serving TLS; see plaintextHint): the error names the handshake failure
// and wraps it (errors.As finds the *tls.CertificateVerificationError),
// instead of a bare Unavailable or deadline. Any other error is returned as
// it is.
func (c *Conn) connError(ctx context.Context, cc *grpc.ClientConn, err error) error {
	if c.opts.tls == nil {
		return plaintextHint(ctx, err)
	}
	addr, hs := c.handshake.failure()
	if hs == nil {
		return err
	}
	if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		return err
	}
	if cc.GetState() == connectivity.Ready || !mentions(status.Convert(err).Message(), hs) {
		return err
	}
	e, ok := MapError(ctx, err).(*Error)
	if !ok {
		return err
	}
	detail := fmt.Sprintf("TLS handshake with %s failed: %v", addr, hs)
	if reason, ok := tlsProblem(hs, ""); ok {
		detail = fmt.Sprintf("TLS handshake with %s failed: %s: %v", addr, reason, hs)
	}
	if e.Code == codes.Unavailable.String() {
		e.Message = detail
	} else {
		e.Message += "; the last connection attempt failed: " + detail
	}
	e.Err = errors.Join(e.Err, hs)
	return e
}

// mentions reports whether gRPC's error text msg carries err: gRPC reports
// its latest connection error as text (quoted, as %q), and it must still be
// this handshake failure, not a refused connection since.
func mentions(msg string, err error) bool {
	s := err.Error()
	q := strconv.Quote(s)
	return strings.Contains(msg, s) || strings.Contains(msg, q[1:len(q)-1])
}

// awaitReady waits, before a stream is opened on a connection that is not
// READY (reconnecting after a server restart), until it is, for at most
// the call's context and Backoff.MaxElapsed. Opening a stream fails at once
// while a connection is down, and a stream that carries data (an object
// Put) is not re-sent, so it should start once the server is back rather
// than fail in the moment the connection is being made again. Nothing is
// sent while waiting.
func (c *Conn) awaitReady(ctx context.Context, cc *grpc.ClientConn) {
	if c.opts.backoff.MaxElapsed > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.backoff.MaxElapsed)
		defer cancel()
	}
	for {
		s := cc.GetState()
		switch s {
		case connectivity.Ready, connectivity.Shutdown:
			return
		case connectivity.Idle:
			cc.Connect()
		}
		if !cc.WaitForStateChange(ctx, s) {
			return
		}
	}
}

// whenUp returns a channel that is closed once the connection calls use is
// READY after having been down, and a stop function that must be called.
// A connection that still reads READY when a call failed on it (the server
// closed it a moment ago) counts once it has gone down and come back; one
// that stays up leaves the call to wait out its backoff.
func (c *Conn) whenUp() (<-chan struct{}, func()) {
	cc := c.pick()
	s := cc.GetState()
	if s == connectivity.Shutdown {
		return nil, func() {}
	}
	if s == connectivity.Idle {
		cc.Connect()
	}
	ctx, cancel := context.WithCancel(c.ctx)
	up, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		wasDown := s != connectivity.Ready
		for cc.WaitForStateChange(ctx, s) {
			switch s = cc.GetState(); s {
			case connectivity.Ready:
				if wasDown {
					close(up)
					return
				}
			case connectivity.Shutdown:
				return
			case connectivity.Idle:
				wasDown = true
				cc.Connect()
			default:
				wasDown = true
			}
		}
	}()
	return up, func() {
		cancel()
		<-done
	}
}

func (c *Conn) pick() *grpc.ClientConn {
	if r := c.route.Load(); r != nil {
		return r
	}
	return c.cc
}

// followHint routes later calls to the leader an error names (not_leader,
// or an unavailable answer from a node that knows a leader it cannot
// reach), or back to the balanced connection when the routed one became
// unreachable, or answered unavailable naming itself.
func (c *Conn) followHint(err error) {
	var e *Error
	if !errors.As(err, &e) {
		return
	}
	hinted := e.LeaderHint != "" && (e.Code == CodeNotLeader || e.Code == CodeUnavailable || e.Kind == KindRPC && e.Code == codes.Unavailable.String())
	if !hinted {
		if e.Kind == KindRPC && c.route.Load() != nil {
			c.route.Store(nil)
		}
		return
	}
	if c.isClosed() {
		return
	}
	c.hintsMu.Lock()
	defer c.hintsMu.Unlock()
	cc, ok := c.hints[e.LeaderHint]
	if ok && e.Code != CodeNotLeader && c.route.Load() == cc {
		// The leader we were sent to could not serve either: back to the
		// balanced connection, which tries every node.
		c.route.Store(nil)
		return
	}
	if !ok {
		var err error
		cc, err = grpc.NewClient("passthrough:///"+e.LeaderHint, c.dialOptions(c.baseDialOptions())...)
		if err != nil {
			c.opts.logger.Debug("waymaker: cannot dial leader hint", zap.String("hint", e.LeaderHint), zap.Error(err))
			return
		}
		c.hints[e.LeaderHint] = cc
	}
	c.route.Store(cc)
}

// Go runs fn in a goroutine owned by the Conn: ctx ends when Close is
// called, and Close waits for fn to return. It reports false, without
// running fn, when the Conn is already closed.
func (c *Conn) Go(fn func(ctx context.Context)) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		fn(c.ctx)
	}()
	return true
}

// hold counts a task that has no goroutine of its own at times (a parked
// FollowAsync) as Go counts its functions, so Close waits for it; false
// when the Conn is closed. release ends it.
func (c *Conn) hold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

func (c *Conn) release() { c.wg.Done() }

// Context returns a context that ends when the Conn is closed.
func (c *Conn) Context() context.Context { return c.ctx }

// Bind returns a context that ends when ctx ends, when cancel is called
// or when the Conn is closed, and carries ctx's values and deadline; cancel
// also releases what ties it to ctx and to the Conn. The SDK binds every
// background stream and held lock with it, so it is built to cost little
// while idle: one small struct, with no Done channel until someone asks
// for one. Functions registered with OnEnd run on the goroutine that ends
// it. context.Cause on it reports the cause of the nearest ancestor made
// by the context package, not a cause of its own.
func (c *Conn) Bind(ctx context.Context) (context.Context, context.CancelFunc) {
	return newEndCtx(ctx, c)
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close ends every goroutine started through the Conn (lock renewals,
// watches, consumers), waits for them, and closes the network connections.
// It is safe to call more than once.
func (c *Conn) Close() error {
	if !c.runCloseHooks() {
		return nil
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.endBound()
	c.wg.Wait()
	err := c.cc.Close()
	c.hintsMu.Lock()
	for _, h := range c.hints {
		_ = h.Close()
	}
	c.hints = nil
	c.hintsMu.Unlock()
	return err
}

// handshakeLog keeps the outcome of the last TLS handshake of a Conn's
// connections.
type handshakeLog struct {
	mu   sync.Mutex
	err  error
	addr string
}

func (h *handshakeLog) record(addr string, err error) {
	h.mu.Lock()
	h.err, h.addr = err, addr
	h.mu.Unlock()
}

func (h *handshakeLog) failure() (addr string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addr, h.err
}

// recordingCreds are TLS credentials that note each client handshake's
// outcome in log. gRPC reports a failed handshake to calls as text only;
// this keeps the typed error, so the SDK can tell a certificate refusal
// (permanent) from a dropped connection (transient).
type recordingCreds struct {
	credentials.TransportCredentials
	log *handshakeLog
}

func (r *recordingCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := r.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil && ctx.Err() == nil {
		r.log.record(raw.RemoteAddr().String(), err)
	} else if err == nil {
		r.log.record("", nil)
	}
	return conn, info, err
}

func (r *recordingCreds) Clone() credentials.TransportCredentials {
	return &recordingCreds{TransportCredentials: r.TransportCredentials.Clone(), log: r.log}
}

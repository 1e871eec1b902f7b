package transport

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
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

	ctx    context.Context // ends when Close is called
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup
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
	c := &Conn{opts: o, addrs: append([]string(nil), addrs...), hints: map[string]*grpc.ClientConn{}}
	target, dopts := c.target(addrs)
	cc, err := grpc.NewClient(target, append(dopts, o.dialOpts...)...)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Code: CodeInvalidArgument, Message: "addrs: " + err.Error(), Err: err}
	}
	c.cc = cc
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

func (c *Conn) baseDialOptions() []grpc.DialOption {
	var tc credentials.TransportCredentials = insecure.NewCredentials()
	if c.opts.tls != nil {
		tc = credentials.NewTLS(c.opts.tls)
	}
	d := []grpc.DialOption{
		grpc.WithTransportCredentials(tc),
		// Detect a dead peer within seconds, so held locks and watches rebind
		// well inside a lease.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
	}
	if c.opts.creds != nil {
		d = append(d, grpc.WithPerRPCCredentials(c.opts.creds))
	}
	return d
}

func (c *Conn) target(addrs []string) (string, []grpc.DialOption) {
	d := c.baseDialOptions()
	if len(addrs) == 1 {
		return "passthrough:///" + addrs[0], d
	}
	r := manual.NewBuilderWithScheme("waymaker")
	state := resolver.State{}
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	d = append(d, grpc.WithResolvers(r), grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	return r.Scheme() + ":///servers", d
}

// Logger returns the Conn's logger (never nil).
func (c *Conn) Logger() *zap.Logger { return c.opts.logger }

// Addrs returns the addresses the Conn was dialed with.
func (c *Conn) Addrs() []string { return append([]string(nil), c.addrs...) }

// Invoke implements grpc.ClientConnInterface.
func (c *Conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if c.isClosed() {
		return ErrClosed
	}
	return c.pick().Invoke(ctx, method, args, reply, opts...)
}

// NewStream implements grpc.ClientConnInterface.
func (c *Conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	return c.pick().NewStream(ctx, desc, method, opts...)
}

func (c *Conn) pick() *grpc.ClientConn {
	if r := c.route.Load(); r != nil {
		return r
	}
	return c.cc
}

// followHint routes later calls to the leader named by a not_leader error,
// or back to the balanced connection when the routed one became unreachable.
func (c *Conn) followHint(err error) {
	e, ok := err.(*Error)
	if !ok {
		return
	}
	if e.Kind == KindRPC && c.route.Load() != nil {
		c.route.Store(nil)
		return
	}
	if e.Code != CodeNotLeader || e.LeaderHint == "" || c.isClosed() {
		return
	}
	c.hintsMu.Lock()
	defer c.hintsMu.Unlock()
	cc, ok := c.hints[e.LeaderHint]
	if !ok {
		var err error
		cc, err = grpc.NewClient("passthrough:///"+e.LeaderHint, append(c.baseDialOptions(), c.opts.dialOpts...)...)
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

// Context returns a context that ends when the Conn is closed.
func (c *Conn) Context() context.Context { return c.ctx }

// Bind returns a context that ends when ctx ends or the Conn is closed.
func (c *Conn) Bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
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
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
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

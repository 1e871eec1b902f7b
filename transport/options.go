package transport

import (
	"context"
	"crypto/tls"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Option configures a Conn. Options are applied in order; later ones win.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// Backoff shapes the exponential, jittered waits between retries of an
// idempotent call and between reopenings of a dropped stream. Zero fields
// take the defaults shown on DefaultBackoff.
type Backoff struct {
	// Initial is the first wait.
	Initial time.Duration
	// Max caps any single wait.
	Max time.Duration
	// Multiplier grows the wait after each failure.
	Multiplier float64
	// Jitter is the randomization factor in [0,1): each wait is drawn from
	// [wait*(1-Jitter), wait*(1+Jitter)].
	Jitter float64
	// MaxElapsed bounds how long a unary call whose context has no deadline
	// keeps retrying; 0 means the context alone bounds it. A call with a
	// deadline (its own, or WithCallTimeout's) retries until that deadline,
	// so an idempotent call given 30 s rides out a 20 s outage. Streams
	// ignore it: they retry until their context ends or the Conn closes.
	MaxElapsed time.Duration
}

// DefaultBackoff is used when WithBackoff is not given.
var DefaultBackoff = Backoff{
	Initial:    50 * time.Millisecond,
	Max:        2 * time.Second,
	Multiplier: 2,
	Jitter:     0.2,
	MaxElapsed: 15 * time.Second,
}

// MaxMessageSize is the largest message, in bytes, a Conn sends or
// accepts unless WithMaxMessageSize says otherwise: 16 MiB, the reference
// server's default Limits.MaxMessageSize, so both sides agree. A unary
// request that encodes larger is refused before it is sent, with a
// KindInvalid error naming the limit; a larger message on a stream fails
// with ResourceExhausted, which is never retried.
const MaxMessageSize = 16 << 20

// retryBudget is how long a failing unary call keeps retrying: until its
// deadline when its context has one, else Backoff.MaxElapsed.
func (c *Conn) retryBudget(ctx context.Context) time.Duration {
	if _, ok := ctx.Deadline(); ok {
		return 0
	}
	return c.opts.backoff.MaxElapsed
}

type options struct {
	logger      *zap.Logger
	tls         *tls.Config
	creds       credentials.PerRPCCredentials
	backoff     Backoff
	callTimeout time.Duration
	maxMsg      int
	dialOpts    []grpc.DialOption
	err         error // an option that could not be applied (WithTLSFiles); Dial returns it
	noSessions  bool
}

func defaultOptions() options {
	return options{logger: zap.NewNop(), backoff: DefaultBackoff, maxMsg: MaxMessageSize}
}

// WithMaxMessageSize sets the largest message the Conn sends or accepts,
// for a server whose Limits.MaxMessageSize is not the default. n <= 0 keeps
// MaxMessageSize.
func WithMaxMessageSize(n int) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.maxMsg = n
		}
	})
}

// WithLogger sets the logger. The default discards everything; the SDK
// never logs above Debug on a hot path.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// WithTLS dials with TLS using cfg. Without it the connection is plaintext.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(o *options) { o.tls = cfg })
}

// WithToken sends "authorization: Bearer <token>" with every call. It
// requires WithTLS: gRPC refuses to send these credentials in plaintext.
func WithToken(token string) Option {
	return WithPerRPCCredentials(bearer(token))
}

// WithPerRPCCredentials attaches credentials to every call.
func WithPerRPCCredentials(c credentials.PerRPCCredentials) Option {
	return optionFunc(func(o *options) { o.creds = c })
}

// WithBackoff replaces DefaultBackoff. Zero fields keep their defaults.
func WithBackoff(b Backoff) Option {
	return optionFunc(func(o *options) {
		d := DefaultBackoff
		if b.Initial > 0 {
			d.Initial = b.Initial
		}
		if b.Max > 0 {
			d.Max = b.Max
		}
		if b.Multiplier >= 1 {
			d.Multiplier = b.Multiplier
		}
		if b.Jitter > 0 && b.Jitter < 1 {
			d.Jitter = b.Jitter
		}
		if b.MaxElapsed > 0 {
			d.MaxElapsed = b.MaxElapsed
		}
		o.backoff = d
	})
}

// WithCallTimeout bounds every unary call whose context has no deadline
// (retries included). Zero, the default, leaves calls bounded by their
// context alone.
func WithCallTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.callTimeout = d })
}

// WithDialOptions passes options straight to grpc.NewClient: interceptors,
// stats handlers (OpenTelemetry), keepalive, window sizes.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return optionFunc(func(o *options) { o.dialOpts = append(o.dialOpts, opts...) })
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

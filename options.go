package waymaker

import (
	"crypto/tls"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Connection options, re-exported from transport.
type (
	// Option configures Connect and ConnectMulti.
	Option = transport.Option
	// Backoff shapes the waits between retries: initial wait, cap,
	// multiplier, jitter and the total retry budget; see transport.Backoff.
	Backoff = transport.Backoff
)

// WithLogger sets the logger. The default discards everything; the SDK
// never logs above Debug on a hot path.
func WithLogger(l *zap.Logger) Option { return transport.WithLogger(l) }

// WithTLS dials with TLS using cfg. Without it the connection is plaintext.
func WithTLS(cfg *tls.Config) Option { return transport.WithTLS(cfg) }

// WithTLSFiles dials with TLS from PEM files, the common case in one line:
// caFile is the CA that signed the server's certificate ("" trusts the
// system's roots); certFile and keyFile, both or neither, are this client's
// certificate for a server that requires one (waymakerd --client-ca).
//
//	client, err := waymaker.Connect(ctx, "db1:8818", waymaker.WithTLSFiles("ca.pem", "", ""))
//
// An unreadable or unusable file makes Connect fail with an invalid_argument
// *Error naming the parameter and the file. See transport.WithTLSFiles.
func WithTLSFiles(caFile, certFile, keyFile string) Option {
	return transport.WithTLSFiles(caFile, certFile, keyFile)
}

// WithToken sends "authorization: Bearer <token>" with every call. It
// requires WithTLS: gRPC refuses to send these credentials in plaintext.
func WithToken(token string) Option { return transport.WithToken(token) }

// WithPerRPCCredentials attaches credentials to every call.
func WithPerRPCCredentials(c credentials.PerRPCCredentials) Option {
	return transport.WithPerRPCCredentials(c)
}

// WithBackoff replaces the default retry backoff (transport.DefaultBackoff).
// Zero fields keep their defaults.
func WithBackoff(b Backoff) Option { return transport.WithBackoff(b) }

// WithCallTimeout bounds every unary call whose context has no deadline
// (retries included). Zero, the default, leaves calls bounded by their
// context alone.
func WithCallTimeout(d time.Duration) Option { return transport.WithCallTimeout(d) }

// WithDialOptions passes options straight to grpc.NewClient: interceptors,
// stats handlers (OpenTelemetry), keepalive, window sizes.
func WithDialOptions(opts ...grpc.DialOption) Option { return transport.WithDialOptions(opts...) }

// WithSessions turns the session path on (the default) or off: with it,
// unary calls travel as envelopes on a few long-lived streams per server
// connection when the server offers sessions, and as plain unary calls
// otherwise. See transport.WithSessions.
func WithSessions(on bool) Option { return transport.WithSessions(on) }

// WithMaxMessageSize sets the largest message the Client sends or accepts,
// for a server whose limit is not the default [MaxMessageSize]. n <= 0 keeps
// the default.
func WithMaxMessageSize(n int) Option { return transport.WithMaxMessageSize(n) }

// MaxMessageSize is the largest message a Client sends or accepts by
// default (16 MiB, the server's default); see transport.MaxMessageSize.
const MaxMessageSize = transport.MaxMessageSize

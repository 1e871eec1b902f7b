package waymaker

import "git.awesomike.com/pub/waymaker-client/go/transport"

// Connection options, re-exported from transport.
type (
	// Option configures Connect and ConnectMulti.
	Option = transport.Option
	// Backoff shapes retry waits; see transport.Backoff.
	Backoff = transport.Backoff
)

var (
	WithLogger            = transport.WithLogger
	WithTLS               = transport.WithTLS
	WithToken             = transport.WithToken
	WithPerRPCCredentials = transport.WithPerRPCCredentials
	WithBackoff           = transport.WithBackoff
	WithCallTimeout       = transport.WithCallTimeout
	WithDialOptions       = transport.WithDialOptions
	WithMaxMessageSize    = transport.WithMaxMessageSize
)

// MaxMessageSize is the largest message a Client sends or accepts by
// default (16 MiB, the server's default); see transport.MaxMessageSize.
const MaxMessageSize = transport.MaxMessageSize

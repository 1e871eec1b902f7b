package waymaker

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client is a connection to a waymaker server (or several) that hands out
// one client per subsystem. Accessors are free: they touch no network.
// A Client is safe for concurrent use; Close stops everything it started.
type Client struct {
	conn *transport.Conn
	subsystems
}

// Connect returns a Client for the server at addr (host:port; the default
// port is 8818). It does not wait for the network: the first call connects.
func Connect(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	return ConnectMulti(ctx, []string{addr}, opts...)
}

// ConnectMulti returns a Client balancing calls round-robin over addrs.
func ConnectMulti(ctx context.Context, addrs []string, opts ...Option) (*Client, error) {
	conn, err := transport.Dial(ctx, addrs, opts...)
	if err != nil {
		return nil, err
	}
	return newClient(conn), nil
}

// NewClient wraps an existing transport.Conn. Closing the Client closes conn.
func NewClient(conn *transport.Conn) *Client { return newClient(conn) }

// Conn returns the underlying connection, for building subsystem clients
// or generated stubs on it.
func (c *Client) Conn() *transport.Conn { return c.conn }

// Close ends every background goroutine the Client started (lock renewals,
// watches, consumers) and closes the connection. Locks are not released:
// their leases expire on the server.
func (c *Client) Close() error { return c.conn.Close() }

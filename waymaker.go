package waymaker

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/auth"
	"git.awesomike.com/pub/waymaker-client/go/cache"
	"git.awesomike.com/pub/waymaker-client/go/cluster"
	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/sketch"
	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client is a connection to a waymaker server (or several) that hands out
// one client per subsystem. Accessors are free: they touch no network.
// A Client is safe for concurrent use; Close stops everything it started.
type Client struct {
	conn *transport.Conn
	// One client per subsystem, all on conn, made by newClient.
	locks       *lock.Client
	kv          *kv.Client
	streams     *stream.Client
	collections *collections.Client
	sketches    *sketch.Client
	objects     *objstore.Client
	cache       *cache.Client
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

func newClient(conn *transport.Conn) *Client {
	return &Client{
		conn:        conn,
		locks:       lock.New(conn),
		kv:          kv.New(conn),
		streams:     stream.New(conn),
		collections: collections.New(conn),
		sketches:    sketch.New(conn),
		objects:     objstore.New(conn),
		cache:       cache.New(conn),
	}
}

// Conn returns the underlying connection, for building subsystem clients
// or generated stubs on it.
func (c *Client) Conn() *transport.Conn { return c.conn }

// Close ends every background goroutine the Client started (lock renewals,
// watches, consumers) and closes the connection. Locks are not released:
// their leases expire on the server.
func (c *Client) Close() error { return c.conn.Close() }

// Locks returns the lock client: leases, fence tokens, leader election.
func (c *Client) Locks() *lock.Client { return c.locks }

// KeyValue returns the KV client: buckets with revisions, CAS and watch.
// (Client.KV(ctx, name), from the published API, opens one bucket.)
func (c *Client) KeyValue() *kv.Client { return c.kv }

// Streams returns the stream client: streams and consumers.
func (c *Client) Streams() *stream.Client { return c.streams }

// Collections returns the hash, set and queue client.
func (c *Client) Collections() *collections.Client { return c.collections }

// Sketches returns the probabilistic-sketch client.
func (c *Client) Sketches() *sketch.Client { return c.sketches }

// Objects returns the object-store client.
func (c *Client) Objects() *objstore.Client { return c.objects }

// Cache returns the cache-policy client.
func (c *Client) Cache() *cache.Client { return c.cache }

// Cluster returns the cluster administration client: members, leader,
// membership changes. It is a cheap handle and touches no network.
func (c *Client) Cluster() *cluster.Client { return cluster.New(c.conn) }

// Auth returns the permissions administration client: roles, the
// identities bound to them, and WhoAmI. It touches no network.
func (c *Client) Auth() *auth.Client { return auth.New(c.conn) }

// StaleRead returns a context under which reads may be answered from the
// local state of whichever node they reach, without confirming it is
// current (transport.StaleRead). Reads are linearizable by default.
func StaleRead(ctx context.Context) context.Context { return transport.StaleRead(ctx) }

// LinearizableRead returns a context under which reads are linearizable
// even on a server whose Config.StaleReads makes stale reads its default
// (transport.LinearizableRead).
func LinearizableRead(ctx context.Context) context.Context { return transport.LinearizableRead(ctx) }

package waymaker

import (
	"git.awesomike.com/pub/waymaker-client/go/cache"
	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/lock"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/sketch"
	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

type subsystems struct {
	locks       *lock.Client
	kv          *kv.Client
	streams     *stream.Client
	collections *collections.Client
	sketches    *sketch.Client
	objects     *objstore.Client
	cache       *cache.Client
}

func newClient(conn *transport.Conn) *Client {
	return &Client{conn: conn, subsystems: subsystems{
		locks:       lock.New(conn),
		kv:          kv.New(conn),
		streams:     stream.New(conn),
		collections: collections.New(conn),
		sketches:    sketch.New(conn),
		objects:     objstore.New(conn),
		cache:       cache.New(conn),
	}}
}

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

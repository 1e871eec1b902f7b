package kv

import (
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client is the KV client. It is cheap to create and safe for
// concurrent use; it shares the Conn's connection, retries and lifetime.
type Client struct {
	conn *transport.Conn
	rpc  kvpb.KVServiceClient
}

// New returns a KV client on conn. It touches no network.
func New(conn *transport.Conn) *Client {
	return &Client{conn: conn, rpc: kvpb.NewKVServiceClient(conn)}
}

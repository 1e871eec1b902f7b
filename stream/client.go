package stream

import (
	"context"
	"errors"
	"iter"
	"sync/atomic"

	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client is the stream client. It is cheap to create and safe for
// concurrent use; it shares the Conn's connection, retries and lifetime.
type Client struct {
	conn *transport.Conn
	rpc  streampb.StreamServiceClient
	acks atomic.Pointer[ackBatcher] // the Conn's, once an ack needed it
}

func (c *Client) ackBatcher() (*ackBatcher, error) {
	if b := c.acks.Load(); b != nil {
		return b, nil
	}
	b, err := acksFor(c.conn)
	if err != nil {
		return nil, err
	}
	c.acks.Store(b)
	return b, nil
}

// New returns a stream client on conn. It touches no network.
func New(conn *transport.Conn) *Client {
	return &Client{conn: conn, rpc: streampb.NewStreamServiceClient(conn)}
}

// Stream returns a handle on the named stream without touching the network;
// calls on it fail with ErrNotFound if the stream does not exist.
func (c *Client) Stream(name string) *Stream {
	return &Stream{c: c, name: name}
}

// Create makes a stream. Creating an existing stream with an identical
// configuration succeeds; a different one fails with ErrExists, and subjects
// that overlap another stream's fail with ErrConflict.
func (c *Client) Create(ctx context.Context, cfg Config) (*Stream, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	req := &streampb.StreamServiceCreateStreamRequest{RequestId: transport.NewRequestID(), Config: cfg.proto()}
	// Idempotent: an identical create of an existing stream succeeds.
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceCreateStreamResponse, error) {
		return c.rpc.CreateStream(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return c.handle(resp.GetInfo()), nil
}

func (c *Client) handle(info *streampb.StreamInfo) *Stream {
	return &Stream{c: c, name: info.GetConfig().GetName(), info: infoFrom(info)}
}

// Get returns the named stream, or ErrNotFound.
func (c *Client) Get(ctx context.Context, name string) (*Stream, error) {
	if err := checkName("name", name); err != nil {
		return nil, err
	}
	info, err := c.info(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.handle(info), nil
}

func (c *Client) info(ctx context.Context, name string) (*streampb.StreamInfo, error) {
	req := &streampb.StreamServiceGetStreamRequest{Stream: name}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceGetStreamResponse, error) {
		return c.rpc.GetStream(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return resp.GetInfo(), nil
}

// GetOrCreate returns the stream named cfg.Name, creating it with cfg if it
// does not exist. An existing stream is returned as it is, even if its
// configuration differs from cfg.
func (c *Client) GetOrCreate(ctx context.Context, cfg Config) (*Stream, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s, err := c.Get(ctx, cfg.Name)
	if err == nil || !errors.Is(err, transport.ErrNotFound) {
		return s, err
	}
	s, err = c.Create(ctx, cfg)
	if errors.Is(err, transport.ErrExists) { // created concurrently with another config
		return c.Get(ctx, cfg.Name)
	}
	return s, err
}

// Update changes the configuration of the stream named cfg.Name (not its
// retention). Lowered limits apply at once.
func (c *Client) Update(ctx context.Context, cfg Config) (*Stream, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	req := &streampb.StreamServiceUpdateStreamRequest{RequestId: transport.NewRequestID(), Config: cfg.proto()}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceUpdateStreamResponse, error) {
		return c.rpc.UpdateStream(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return c.handle(resp.GetInfo()), nil
}

// Delete removes a stream with its messages and consumers.
func (c *Client) Delete(ctx context.Context, name string) error {
	if err := checkName("name", name); err != nil {
		return err
	}
	req := &streampb.StreamServiceDeleteStreamRequest{RequestId: transport.NewRequestID(), Stream: name}
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceDeleteStreamResponse, error) {
		return c.rpc.DeleteStream(ctx, req)
	})
	return err
}

// List ranges over every stream in name order, fetching a page at a time;
// it stops at the first error, which it yields once, last (see
// transport.Pages, the listing shape of every client).
func (c *Client) List(ctx context.Context) iter.Seq2[*Info, error] {
	return transport.Pages(ctx, func(ctx context.Context, token string) ([]*Info, string, error) {
		req := &streampb.StreamServiceListStreamsRequest{PageToken: token}
		resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceListStreamsResponse, error) {
			return c.rpc.ListStreams(ctx, req)
		})
		if err != nil {
			return nil, "", err
		}
		return transport.Map(resp.GetStreams(), infoFrom), resp.GetNextPageToken(), nil
	})
}

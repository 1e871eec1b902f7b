package kv

import (
	"context"
	"errors"
	"iter"

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

// Create makes a bucket and returns it. Creating a bucket that exists with
// the same configuration returns it; with another one fails with ErrExists.
func (c *Client) Create(ctx context.Context, cfg Config) (*Bucket, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	req := &kvpb.KVServiceCreateBucketRequest{RequestId: transport.NewRequestID(), Config: cfg.toPB()}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceCreateBucketResponse, error) {
		return c.rpc.CreateBucket(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return c.bucketFromInfo(resp.GetInfo()), nil
}

// GetOrCreate returns the bucket named cfg.Name, creating it with cfg when
// it does not exist. An existing bucket is returned as it is, whatever its
// configuration.
func (c *Client) GetOrCreate(ctx context.Context, cfg Config) (*Bucket, error) {
	b, err := c.Create(ctx, cfg)
	if errors.Is(err, transport.ErrExists) {
		return c.Open(ctx, cfg.Name)
	}
	return b, err
}

// Open returns an existing bucket; ErrNotFound when there is none.
func (c *Client) Open(ctx context.Context, name string) (*Bucket, error) {
	st, err := c.status(ctx, name)
	if err != nil {
		return nil, err
	}
	return &Bucket{c: c, name: name, cfg: st.Config}, nil
}

// Bucket returns a handle on the bucket named name without touching the
// network; calls on it fail with ErrNotFound if the bucket does not exist.
// Values are then checked against the server's limit only, by the server.
func (c *Client) Bucket(name string) *Bucket {
	return &Bucket{c: c, name: name, cfg: Config{Name: name}}
}

func (c *Client) bucketFromInfo(info *kvpb.KVBucketInfo) *Bucket {
	cfg := configFromPB(info.GetConfig())
	return &Bucket{c: c, name: cfg.Name, cfg: cfg}
}

// Update changes a bucket's configuration (all but its name) and returns
// its new status. Lowering History trims older entries at once.
func (c *Client) Update(ctx context.Context, cfg Config) (*Status, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	req := &kvpb.KVServiceUpdateBucketRequest{RequestId: transport.NewRequestID(), Config: cfg.toPB()}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceUpdateBucketResponse, error) {
		return c.rpc.UpdateBucket(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return statusFromPB(resp.GetInfo()), nil
}

// Delete removes a bucket and everything in it; its watches end with
// ErrNotFound. ErrNotFound when there is no such bucket.
func (c *Client) Delete(ctx context.Context, name string) error {
	if err := checkBucket("name", name); err != nil {
		return err
	}
	req := &kvpb.KVServiceDeleteBucketRequest{RequestId: transport.NewRequestID(), Bucket: name}
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceDeleteBucketResponse, error) {
		return c.rpc.DeleteBucket(ctx, req)
	})
	return err
}

func (c *Client) status(ctx context.Context, name string) (*Status, error) {
	if err := checkBucket("name", name); err != nil {
		return nil, err
	}
	req := &kvpb.KVServiceGetBucketRequest{Bucket: name}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceGetBucketResponse, error) {
		return c.rpc.GetBucket(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return statusFromPB(resp.GetInfo()), nil
}

// List ranges over every bucket's status, in name order, fetching a page
// at a time; it stops at the first error, which it yields once, last (see
// transport.Pages, the listing shape of every client).
func (c *Client) List(ctx context.Context) iter.Seq2[*Status, error] {
	return transport.Pages(ctx, func(ctx context.Context, token string) ([]*Status, string, error) {
		req := &kvpb.KVServiceListBucketsRequest{PageToken: token}
		resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceListBucketsResponse, error) {
			return c.rpc.ListBuckets(ctx, req)
		})
		if err != nil {
			return nil, "", err
		}
		return transport.Map(resp.GetBuckets(), statusFromPB), resp.GetNextPageToken(), nil
	})
}

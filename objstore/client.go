package objstore

import (
	"context"
	"iter"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client is the object store client. It is cheap to create and safe for
// concurrent use; it shares the Conn's connection, retries and lifetime.
type Client struct {
	conn *transport.Conn
	rpc  objstorepb.ObjectStoreServiceClient
}

// New returns an object store client on conn. It touches no network.
func New(conn *transport.Conn) *Client {
	return &Client{conn: conn, rpc: objstorepb.NewObjectStoreServiceClient(conn)}
}

// CreateStore creates a store and returns a handle to it. Creating a store
// that exists with an identical configuration succeeds; with a different
// one it fails with ErrExists.
func (c *Client) CreateStore(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	req := &objstorepb.ObjectStoreServiceCreateStoreRequest{RequestId: transport.NewRequestID(), Config: cfg.toPB()}
	// Idempotent: an identical create of an existing store succeeds.
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*objstorepb.ObjectStoreServiceCreateStoreResponse, error) {
		return c.rpc.CreateStore(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return c.handle(resp.GetInfo()), nil
}

// GetOrCreateStore returns the store named cfg.Name, creating it with cfg
// when it does not exist. An existing store is returned as it is, even when
// its configuration differs from cfg (see Store.Status).
func (c *Client) GetOrCreateStore(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	for {
		s, err := c.Store(ctx, cfg.Name)
		if err == nil || !transport.IsServerCode(err, transport.CodeNotFound) {
			return s, err
		}
		s, err = c.CreateStore(ctx, cfg)
		if !transport.IsServerCode(err, transport.CodeExists) {
			return s, err
		}
		// Someone created it differently in between: answer theirs.
	}
}

// Store returns a handle to an existing store; ErrNotFound when there is
// none.
func (c *Client) Store(ctx context.Context, name string) (*Store, error) {
	info, err := c.status(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.handle(info), nil
}

// UpdateStore changes a store's description, MaxBytes, TTL and ChunkSize
// (which applies to later Puts) and returns its handle.
func (c *Client) UpdateStore(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	req := &objstorepb.ObjectStoreServiceUpdateStoreRequest{RequestId: transport.NewRequestID(), Config: cfg.toPB()}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*objstorepb.ObjectStoreServiceUpdateStoreResponse, error) {
		return c.rpc.UpdateStore(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return c.handle(resp.GetInfo()), nil
}

// DeleteStore deletes a store and every object in it; ErrNotFound when there
// is none.
func (c *Client) DeleteStore(ctx context.Context, name string) error {
	if err := validStoreName("name", name); err != nil {
		return err
	}
	req := &objstorepb.ObjectStoreServiceDeleteStoreRequest{RequestId: transport.NewRequestID(), Store: name}
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*objstorepb.ObjectStoreServiceDeleteStoreResponse, error) {
		return c.rpc.DeleteStore(ctx, req)
	})
	return err
}

// List ranges over every store's status, in name order, fetching a page at
// a time; it stops at the first error, which it yields once, last (see
// transport.Pages, the listing shape of every client).
func (c *Client) List(ctx context.Context) iter.Seq2[Status, error] {
	return transport.Pages(ctx, func(ctx context.Context, token string) ([]Status, string, error) {
		req := &objstorepb.ObjectStoreServiceListStoresRequest{PageToken: token}
		resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*objstorepb.ObjectStoreServiceListStoresResponse, error) {
			return c.rpc.ListStores(ctx, req)
		})
		if err != nil {
			return nil, "", err
		}
		return transport.Map(resp.GetStores(), statusFromPB), resp.GetNextPageToken(), nil
	})
}

func (c *Client) status(ctx context.Context, name string) (*objstorepb.ObjectStoreInfo, error) {
	if err := validStoreName("name", name); err != nil {
		return nil, err
	}
	req := &objstorepb.ObjectStoreServiceGetStoreRequest{Store: name}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*objstorepb.ObjectStoreServiceGetStoreResponse, error) {
		return c.rpc.GetStore(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return resp.GetInfo(), nil
}

func (c *Client) handle(info *objstorepb.ObjectStoreInfo) *Store {
	chunk := int(info.GetConfig().GetChunkSize())
	if chunk < MinChunkSize || chunk > MaxChunkSize {
		chunk = DefaultChunkSize
	}
	return &Store{c: c, name: info.GetConfig().GetName(), chunkSize: chunk}
}

package objstore

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Store is a handle to one object store. It holds no resources; it is safe
// for concurrent use.
type Store struct {
	c         *Client
	name      string
	chunkSize int // the store's chunk size when the handle was made; Put sends chunks of it
}

// Name returns the store's name.
func (s *Store) Name() string { return s.name }

// Status returns the store's configuration and what it holds now.
func (s *Store) Status(ctx context.Context) (Status, error) {
	info, err := s.c.status(ctx, s.name)
	if err != nil {
		return Status{}, err
	}
	return statusFromPB(info), nil
}

// GetInfo returns the info of an object's latest version; ErrNotFound for a
// missing or deleted object.
func (s *Store) GetInfo(ctx context.Context, name string) (ObjectInfo, error) {
	return s.getInfo(ctx, name, false)
}

// GetInfoDeleted is GetInfo that answers a deleted marker (Deleted true)
// instead of ErrNotFound for a deleted object.
func (s *Store) GetInfoDeleted(ctx context.Context, name string) (ObjectInfo, error) {
	return s.getInfo(ctx, name, true)
}

func (s *Store) getInfo(ctx context.Context, name string, deleted bool) (ObjectInfo, error) {
	if err := validObjectName("name", name); err != nil {
		return ObjectInfo{}, err
	}
	req := &objstorepb.ObjectStoreServiceGetInfoRequest{Store: s.name, Name: name, IncludeDeleted: deleted}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*objstorepb.ObjectStoreServiceGetInfoResponse, error) {
		return s.c.rpc.GetInfo(ctx, req)
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	return infoFromPB(resp.GetInfo()), nil
}

// UpdateMeta replaces an object's description, headers and metadata without
// touching its data. A meta.Name different from name renames the object
// (ErrExists when the new name is taken); the old name is left as a deleted
// marker.
func (s *Store) UpdateMeta(ctx context.Context, name string, meta ObjectMeta, opts ...WriteOption) (ObjectInfo, error) {
	if err := validObjectName("name", name); err != nil {
		return ObjectInfo{}, err
	}
	if err := meta.validate("meta"); err != nil {
		return ObjectInfo{}, err
	}
	fence, err := writeFence(opts)
	if err != nil {
		return ObjectInfo{}, err
	}
	req := &objstorepb.ObjectStoreServiceUpdateMetaRequest{RequestId: transport.NewRequestID(), Store: s.name, Name: name, Meta: meta.toPB(), Fence: fence}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*objstorepb.ObjectStoreServiceUpdateMetaResponse, error) {
		return s.c.rpc.UpdateMeta(ctx, req)
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	return infoFromPB(resp.GetInfo()), nil
}

// Delete removes an object's data and leaves a deleted marker; ErrNotFound
// for a missing or already deleted object.
func (s *Store) Delete(ctx context.Context, name string, opts ...WriteOption) error {
	if err := validObjectName("name", name); err != nil {
		return err
	}
	fence, err := writeFence(opts)
	if err != nil {
		return err
	}
	req := &objstorepb.ObjectStoreServiceDeleteRequest{RequestId: transport.NewRequestID(), Store: s.name, Name: name, Fence: fence}
	_, err = transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*objstorepb.ObjectStoreServiceDeleteResponse, error) {
		return s.c.rpc.Delete(ctx, req)
	})
	return err
}

// StoreHandle returns a handle to the store name without touching the
// network (Store checks that it exists); its Puts send chunks of
// DefaultChunkSize.
func (c *Client) StoreHandle(name string) *Store {
	return &Store{c: c, name: name, chunkSize: DefaultChunkSize}
}

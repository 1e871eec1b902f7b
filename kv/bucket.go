package kv

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Bucket is a handle on one bucket. It is cheap and safe for concurrent
// use. Every change in a bucket takes the bucket's next revision, so
// revisions strictly increase across all its keys.
type Bucket struct {
	c    *Client
	name string
	cfg  Config // as known when the handle was made
}

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Config returns the bucket's configuration as known when the handle was
// made (Status asks the server).
func (b *Bucket) Config() Config { return b.cfg }

// Status asks the server for the bucket's configuration and state.
func (b *Bucket) Status(ctx context.Context) (*Status, error) { return b.c.status(ctx, b.name) }

func (b *Bucket) checkValue(value []byte) error {
	max := b.cfg.MaxValueSize
	if max == 0 {
		return nil // unknown: the server checks
	}
	if int64(len(value)) > max {
		return invalid("value", "is %d bytes, bucket limit %d", len(value), max)
	}
	return nil
}

// Put stores value under key and returns the new revision.
func (b *Bucket) Put(ctx context.Context, key string, value []byte, opts ...WriteOption) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if err := b.checkValue(value); err != nil {
		return 0, err
	}
	fence, err := fencePB(writeOptionsOf(opts).fence)
	if err != nil {
		return 0, err
	}
	// The request id makes a retry after a lost reply answer the first
	// revision instead of storing the value again over later writes.
	req := &kvpb.KVServicePutRequest{RequestId: transport.NewRequestID(), Bucket: b.name, Key: key, Value: value, Fence: fence}
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServicePutResponse, error) {
		return b.c.rpc.Put(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRevision(), nil
}

// Get returns key's latest value; ErrNotFound when the key is missing,
// deleted or purged.
func (b *Bucket) Get(ctx context.Context, key string) (*Entry, error) {
	return b.get(ctx, key, 0)
}

// GetRevision returns key's value at revision rev; ErrNotFound when rev is
// not a value of key or is no longer kept.
func (b *Bucket) GetRevision(ctx context.Context, key string, rev uint64) (*Entry, error) {
	if rev == 0 {
		return nil, invalid("revision", "must be positive")
	}
	return b.get(ctx, key, rev)
}

func (b *Bucket) get(ctx context.Context, key string, rev uint64) (*Entry, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	req := &kvpb.KVServiceGetRequest{Bucket: b.name, Key: key, Revision: rev}
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceGetResponse, error) {
		return b.c.rpc.Get(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return entryFromPB(resp.GetEntry()), nil
}

// Create stores value under key only if the key has no live value (it is
// missing, deleted or purged), and returns the new revision; ErrExists
// otherwise.
func (b *Bucket) Create(ctx context.Context, key string, value []byte, opts ...WriteOption) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if err := b.checkValue(value); err != nil {
		return 0, err
	}
	fence, err := fencePB(writeOptionsOf(opts).fence)
	if err != nil {
		return 0, err
	}
	req := &kvpb.KVServiceCreateRequest{Bucket: b.name, Key: key, Value: value, RequestId: transport.NewRequestID(), Fence: fence}
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceCreateResponse, error) {
		return b.c.rpc.Create(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRevision(), nil
}

// Update stores value under key only if the key's latest revision is
// lastRev (0: the key has no entry), and returns the new revision;
// ErrWrongRevision otherwise. Get then Update in a loop is a
// compare-and-set.
func (b *Bucket) Update(ctx context.Context, key string, value []byte, lastRev uint64, opts ...WriteOption) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if err := b.checkValue(value); err != nil {
		return 0, err
	}
	fence, err := fencePB(writeOptionsOf(opts).fence)
	if err != nil {
		return 0, err
	}
	req := &kvpb.KVServiceUpdateRequest{Bucket: b.name, Key: key, Value: value, LastRevision: lastRev, RequestId: transport.NewRequestID(), Fence: fence}
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceUpdateResponse, error) {
		return b.c.rpc.Update(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRevision(), nil
}

// Delete writes a delete marker for key, keeping its history (within the
// bucket's History), and returns the marker's revision. Get then answers
// ErrNotFound.
func (b *Bucket) Delete(ctx context.Context, key string, opts ...DeleteOption) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	o := deleteOptionsOf(opts)
	fence, err := fencePB(o.fence)
	if err != nil {
		return 0, err
	}
	req := &kvpb.KVServiceDeleteRequest{Bucket: b.name, Key: key, LastRevision: o.lastRev, RequestId: transport.NewRequestID(), Fence: fence}
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServiceDeleteResponse, error) {
		return b.c.rpc.Delete(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRevision(), nil
}

// Purge removes key's history, leaving one purge marker, and returns the
// marker's revision.
func (b *Bucket) Purge(ctx context.Context, key string, opts ...DeleteOption) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	o := deleteOptionsOf(opts)
	fence, err := fencePB(o.fence)
	if err != nil {
		return 0, err
	}
	req := &kvpb.KVServicePurgeRequest{Bucket: b.name, Key: key, LastRevision: o.lastRev, RequestId: transport.NewRequestID(), Fence: fence}
	resp, err := transport.Call(ctx, b.c.conn, transport.Idempotent, func(ctx context.Context) (*kvpb.KVServicePurgeResponse, error) {
		return b.c.rpc.Purge(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRevision(), nil
}

// History returns key's retained entries (values and markers), oldest
// first: at most the bucket's History of them. ErrNotFound when the key
// has none.
func (b *Bucket) History(ctx context.Context, key string) ([]*Entry, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var (
		out   []*Entry
		after uint64
	)
	err := transport.Follow(ctx, b.c.conn, func(ctx context.Context) (transport.Receiver[kvpb.KVServiceHistoryResponse], error) {
		return b.c.rpc.History(ctx, &kvpb.KVServiceHistoryRequest{Bucket: b.name, Key: key, AfterRevision: after})
	}, func(m *kvpb.KVServiceHistoryResponse) error {
		if err := transport.ServerError(m.GetResult()); err != nil {
			return err
		}
		if e := m.GetEntry(); e != nil {
			out = append(out, entryFromPB(e))
			after = e.GetRevision()
		}
		if m.GetDone() {
			return transport.ErrStreamDone
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

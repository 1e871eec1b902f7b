package collections

import (
	"context"
	"iter"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// keyspace is what hash and set stores share: their name and their keys.
type keyspace struct {
	c     *Client
	name  string
	kind  Kind
	fence fence // WithFence's, for every write
}

// Name is the store's name.
func (k *keyspace) Name() string { return k.name }

// Info answers the store's configuration and status.
func (k *keyspace) Info(ctx context.Context) (StoreInfo, error) {
	return k.c.info(ctx, k.name, k.kind)
}

// ScanKeys answers one page of the store's keys in byte order, from cursor
// ("" starts) and the cursor of the next page ("" at the end), as SCAN.
// A key present for the whole scan is answered exactly once.
func (k *keyspace) ScanKeys(ctx context.Context, cursor string, opts ScanOptions) ([]string, string, error) {
	if err := checkScan(opts); err != nil {
		return nil, "", err
	}
	req := &pb.CollectionsServiceScanKeysRequest{Store: k.name, Cursor: cursor, Match: opts.Match, Count: int32(opts.Count)}
	resp, err := transport.Call(ctx, k.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceScanKeysResponse, error) {
		return k.c.rpc.ScanKeys(ctx, req)
	})
	if err != nil {
		return nil, "", err
	}
	return resp.GetKeys(), resp.GetCursor(), nil
}

// AllKeys iterates over the store's keys with ScanKeys; it stops at the
// first error, which it yields.
func (k *keyspace) AllKeys(ctx context.Context, opts ScanOptions) iter.Seq2[string, error] {
	return transport.Pages(ctx, func(ctx context.Context, cursor string) ([]string, string, error) {
		return k.ScanKeys(ctx, cursor, opts)
	})
}

// DeleteKeys removes whole keys (DEL) and answers how many existed.
func (k *keyspace) DeleteKeys(ctx context.Context, keys ...string) (int64, error) {
	if err := checkKeys("keys", keys); err != nil {
		return 0, err
	}
	if err := k.fence.err; err != nil {
		return 0, err
	}
	req := &pb.CollectionsServiceDeleteKeysRequest{RequestId: transport.NewRequestID(), Store: k.name, Keys: keys, Fence: k.fence.pb}
	resp, err := transport.Call(ctx, k.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceDeleteKeysResponse, error) {
		return k.c.rpc.DeleteKeys(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRemoved(), nil
}

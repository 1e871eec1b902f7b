package lock

import (
	"context"
	"iter"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// KeyInfo is one key of a List: who holds it and how many wait.
type KeyInfo struct {
	Key string
	Info
}

// List ranges over the quorum-scope keys that are held or waited for, in
// key order, that start with prefix ("" for all), each as Inspect would
// answer it. It pages through the server's listing as the loop goes on.
func (c *Client) List(ctx context.Context, prefix string) iter.Seq2[KeyInfo, error] {
	return transport.Pages(ctx, func(ctx context.Context, token string) ([]KeyInfo, string, error) {
		req := &lockpb.LockServiceListRequest{Prefix: prefix, PageToken: token}
		resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceListResponse, error) {
			return c.rpc.List(ctx, req)
		})
		if err != nil {
			return nil, "", err
		}
		out := make([]KeyInfo, 0, len(resp.GetKeys()))
		for _, k := range resp.GetKeys() {
			out = append(out, KeyInfo{Key: k.GetKey(), Info: infoOf(k.GetHolders(), k.GetWaiters(), k.GetLastFenceToken())})
		}
		return out, resp.GetNextPageToken(), nil
	})
}

// Revoke ends every lease holding the quorum-scope key, as an operator
// does with a holder that will not let go: each holder's lock is lost
// (its Watch reports it, its fence token is refused from then on), and
// the next waiter is granted. It returns how many leases it ended; a key
// nobody holds ends none.
func (c *Client) Revoke(ctx context.Context, key string) (int, error) {
	if err := validateKey("key", key); err != nil {
		return 0, err
	}
	req := &lockpb.LockServiceRevokeRequest{RequestId: transport.NewRequestID(), Key: key}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*lockpb.LockServiceRevokeResponse, error) {
		return c.rpc.Revoke(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return int(resp.GetRevoked()), nil
}

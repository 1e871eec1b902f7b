package cache

import (
	"context"
	"iter"

	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client is the cache client. It is cheap to create and safe for
// concurrent use; it shares the Conn's connection, retries and lifetime.
//
// A server with caching off answers every call with gRPC Unimplemented;
// the client returns that at once (errors.Is(err, transport.ErrUnimplemented)),
// without retrying.
type Client struct {
	conn *transport.Conn
	rpc  cachepb.CacheServiceClient
}

// New returns a cache client on conn. It touches no network.
func New(conn *transport.Conn) *Client {
	return &Client{conn: conn, rpc: cachepb.NewCacheServiceClient(conn)}
}

// AttachPolicy attaches p to its bucket, replacing any policy the bucket
// had, and returns the policy as stored. Keys beyond the new bounds are
// evicted at once. ErrNotFound when the bucket does not exist.
func (c *Client) AttachPolicy(ctx context.Context, p Policy, opts ...PolicyOption) (Policy, error) {
	if err := p.validate(); err != nil {
		return Policy{}, err
	}
	fence, err := policyFence(opts)
	if err != nil {
		return Policy{}, err
	}
	req := &cachepb.CacheServiceAttachPolicyRequest{RequestId: transport.NewRequestID(), Policy: p.toPB(), Fence: fence}
	// Attaching the same policy twice leaves the same state: idempotent.
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*cachepb.CacheServiceAttachPolicyResponse, error) {
		return c.rpc.AttachPolicy(ctx, req)
	})
	if err != nil {
		return Policy{}, err
	}
	return policyFromPB(resp.GetPolicy()), nil
}

// DetachPolicy removes bucket's policy: eviction stops and the data stays.
// ErrNotFound when the bucket has no policy.
func (c *Client) DetachPolicy(ctx context.Context, bucket string, opts ...PolicyOption) error {
	if err := validBucket("bucket", bucket); err != nil {
		return err
	}
	fence, err := policyFence(opts)
	if err != nil {
		return err
	}
	req := &cachepb.CacheServiceDetachPolicyRequest{RequestId: transport.NewRequestID(), Bucket: bucket, Fence: fence}
	_, err = transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*cachepb.CacheServiceDetachPolicyResponse, error) {
		return c.rpc.DetachPolicy(ctx, req)
	})
	return err
}

// Policy returns bucket's policy; ErrNotFound when it has none.
func (c *Client) Policy(ctx context.Context, bucket string) (Policy, error) {
	if err := validBucket("bucket", bucket); err != nil {
		return Policy{}, err
	}
	req := &cachepb.CacheServiceGetPolicyRequest{Bucket: bucket}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*cachepb.CacheServiceGetPolicyResponse, error) {
		return c.rpc.GetPolicy(ctx, req)
	})
	if err != nil {
		return Policy{}, err
	}
	return policyFromPB(resp.GetPolicy()), nil
}

// List ranges over every attached policy, in bucket order, fetching a
// page at a time; it stops at the first error, which it yields once, last
// (see transport.Pages, the listing shape of every client).
func (c *Client) List(ctx context.Context) iter.Seq2[Policy, error] {
	return transport.Pages(ctx, func(ctx context.Context, token string) ([]Policy, string, error) {
		req := &cachepb.CacheServiceListPoliciesRequest{PageToken: token}
		resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*cachepb.CacheServiceListPoliciesResponse, error) {
			return c.rpc.ListPolicies(ctx, req)
		})
		if err != nil {
			return nil, "", err
		}
		return transport.Map(resp.GetPolicies(), policyFromPB), resp.GetNextPageToken(), nil
	})
}

// Stats returns bucket's cache counters; ErrNotFound when it has no policy.
func (c *Client) Stats(ctx context.Context, bucket string) (Stats, error) {
	if err := validBucket("bucket", bucket); err != nil {
		return Stats{}, err
	}
	req := &cachepb.CacheServiceStatsRequest{Bucket: bucket}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*cachepb.CacheServiceStatsResponse, error) {
		return c.rpc.Stats(ctx, req)
	})
	if err != nil {
		return Stats{}, err
	}
	return statsFromPB(resp.GetStats()), nil
}

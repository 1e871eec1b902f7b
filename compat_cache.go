package waymaker

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/cache"
)

// Cache types, re-exported from cache.
type (
	// CachePolicy bounds a KV bucket, making it a cache.
	CachePolicy = cache.Policy
	// CacheStats are a cached bucket's counters.
	CacheStats = cache.Stats
	// CacheEviction chooses which entry a full cache evicts.
	CacheEviction = cache.Eviction
)

// Eviction policies.
const (
	CacheLRU = cache.LRU
	CacheLFU = cache.LFU
)

// CacheAttachPolicy attaches a cache policy to a KV bucket; see
// cache.Client.AttachPolicy.
func (c *Client) CacheAttachPolicy(ctx context.Context, p CachePolicy) (CachePolicy, error) {
	return c.cache.AttachPolicy(ctx, p)
}

// CacheDetachPolicy removes a bucket's cache policy, keeping its data.
func (c *Client) CacheDetachPolicy(ctx context.Context, bucket string) error {
	return c.cache.DetachPolicy(ctx, bucket)
}

// CacheStats returns a cached bucket's counters.
func (c *Client) CacheStats(ctx context.Context, bucket string) (CacheStats, error) {
	return c.cache.Stats(ctx, bucket)
}

package waymaker

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/collections"
)

// Collections types under the root package's names.
type (
	HashStoreConfig     = collections.HashStoreConfig
	SetStoreConfig      = collections.SetStoreConfig
	QueueConfig         = collections.QueueConfig
	HashStore           = collections.HashStore
	SetStore            = collections.SetStore
	Queue               = collections.Queue
	QueueMessage        = collections.Message
	QueueLen            = collections.QueueLen
	QueuePushResult     = collections.PushResult
	CollectionStoreInfo = collections.StoreInfo
	ScanOptions         = collections.ScanOptions
)

// CreateHashStore makes a hash store (see collections.Client.CreateHashStore).
func (c *Client) CreateHashStore(ctx context.Context, cfg HashStoreConfig) (*HashStore, error) {
	return c.collections.CreateHashStore(ctx, cfg)
}

// GetOrCreateHashStore opens or makes a hash store.
func (c *Client) GetOrCreateHashStore(ctx context.Context, cfg HashStoreConfig) (*HashStore, error) {
	return c.collections.GetOrCreateHashStore(ctx, cfg)
}

// HashStore opens an existing hash store.
func (c *Client) HashStore(ctx context.Context, name string) (*HashStore, error) {
	return c.collections.HashStore(ctx, name)
}

// DeleteHashStore removes a hash store and its keys.
func (c *Client) DeleteHashStore(ctx context.Context, name string) error {
	return c.collections.DeleteHashStore(ctx, name)
}

// ListHashStores lists hash stores in name order.
func (c *Client) ListHashStores(ctx context.Context) ([]CollectionStoreInfo, error) {
	return collect(c.collections.List(ctx, collections.KindHash))
}

// CreateSetStore makes a set store (see collections.Client.CreateSetStore).
func (c *Client) CreateSetStore(ctx context.Context, cfg SetStoreConfig) (*SetStore, error) {
	return c.collections.CreateSetStore(ctx, cfg)
}

// GetOrCreateSetStore opens or makes a set store.
func (c *Client) GetOrCreateSetStore(ctx context.Context, cfg SetStoreConfig) (*SetStore, error) {
	return c.collections.GetOrCreateSetStore(ctx, cfg)
}

// SetStore opens an existing set store.
func (c *Client) SetStore(ctx context.Context, name string) (*SetStore, error) {
	return c.collections.SetStore(ctx, name)
}

// DeleteSetStore removes a set store and its keys.
func (c *Client) DeleteSetStore(ctx context.Context, name string) error {
	return c.collections.DeleteSetStore(ctx, name)
}

// ListSetStores lists set stores in name order.
func (c *Client) ListSetStores(ctx context.Context) ([]CollectionStoreInfo, error) {
	return collect(c.collections.List(ctx, collections.KindSet))
}

// CreateQueue makes a reliable queue (see collections.Client.CreateQueue).
func (c *Client) CreateQueue(ctx context.Context, cfg QueueConfig) (*Queue, error) {
	return c.collections.CreateQueue(ctx, cfg)
}

// GetOrCreateQueue opens or makes a queue.
func (c *Client) GetOrCreateQueue(ctx context.Context, cfg QueueConfig) (*Queue, error) {
	return c.collections.GetOrCreateQueue(ctx, cfg)
}

// Queue opens an existing queue.
func (c *Client) Queue(ctx context.Context, name string) (*Queue, error) {
	return c.collections.Queue(ctx, name)
}

// DeleteQueue removes a queue and its messages.
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	return c.collections.DeleteQueue(ctx, name)
}

// ListQueues lists queues in name order.
func (c *Client) ListQueues(ctx context.Context) ([]CollectionStoreInfo, error) {
	return collect(c.collections.List(ctx, collections.KindQueue))
}

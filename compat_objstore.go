package waymaker

import (
	"context"
	"iter"

	"git.awesomike.com/pub/waymaker-client/go/objstore"
)

// Object store types, re-exported from objstore.
type (
	// ObjectStoreConfig configures an object store.
	ObjectStoreConfig = objstore.Config
	// ObjectStore is a handle to one object store.
	ObjectStore = objstore.Store
	// ObjectStoreStatus is a store's configuration and contents.
	ObjectStoreStatus = objstore.Status
	// ObjectMeta is an object's user-set name, description and metadata.
	ObjectMeta = objstore.ObjectMeta
	// ObjectInfo describes one version of an object.
	ObjectInfo = objstore.ObjectInfo
	// ObjectReader reads one object version; it is an io.ReadCloser.
	ObjectReader = objstore.Reader
)

// CreateObjectStore creates an object store; see objstore.Client.CreateStore.
func (c *Client) CreateObjectStore(ctx context.Context, cfg ObjectStoreConfig) (*ObjectStore, error) {
	return c.objects.CreateStore(ctx, cfg)
}

// GetOrCreateObjectStore returns the store named cfg.Name, creating it when
// it does not exist; see objstore.Client.GetOrCreateStore.
func (c *Client) GetOrCreateObjectStore(ctx context.Context, cfg ObjectStoreConfig) (*ObjectStore, error) {
	return c.objects.GetOrCreateStore(ctx, cfg)
}

// ObjectStore returns a handle to an existing object store.
func (c *Client) ObjectStore(ctx context.Context, name string) (*ObjectStore, error) {
	return c.objects.Store(ctx, name)
}

// DeleteObjectStore deletes an object store and every object in it.
func (c *Client) DeleteObjectStore(ctx context.Context, name string) error {
	return c.objects.DeleteStore(ctx, name)
}

// ObjectStores iterates over every object store's status, in name order.
func (c *Client) ObjectStores(ctx context.Context) iter.Seq2[ObjectStoreStatus, error] {
	return c.objects.List(ctx)
}

// ObjectStoreNames returns the names of every object store.
func (c *Client) ObjectStoreNames(ctx context.Context) ([]string, error) {
	return collectNames(c.objects.List(ctx), func(s ObjectStoreStatus) string { return s.Config.Name })
}

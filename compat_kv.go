package waymaker

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/kv"
)

// KV types, under the names of the published API.
type (
	// KVConfig configures a bucket; see kv.Config.
	KVConfig = kv.Config
	// KVBucket is a handle on one bucket; see kv.Bucket.
	KVBucket = kv.Bucket
	// KVEntry is one entry of a key; see kv.Entry.
	KVEntry = kv.Entry
	// KVEvent is one watch event; Next returns its zero value, with the
	// reason, once the watch has ended.
	KVEvent = kv.Event
	// KVWatcher delivers a watch's events; see kv.Watcher.
	KVWatcher = kv.Watcher
	// KVWatchOption qualifies a watch.
	KVWatchOption = kv.WatchOption
	// KVDeleteOption qualifies Delete and Purge.
	KVDeleteOption = kv.DeleteOption
	// KVStatus is a bucket's configuration and state.
	KVStatus = kv.Status
	// KVOperation is what an entry records.
	KVOperation = kv.Operation
	// KVKeyLister iterates over keys.
	KVKeyLister = kv.KeyLister
	// KVBucketLister iterates over buckets.
	KVBucketLister = kv.BucketLister
)

// KV operations.
const (
	KVOpPut    = kv.OpPut
	KVOpDelete = kv.OpDelete
	KVOpPurge  = kv.OpPurge
)

// KV watch and delete options.
var (
	KVIncludeHistory     = kv.IncludeHistory
	KVUpdatesOnly        = kv.UpdatesOnly
	KVIgnoreDeletes      = kv.IgnoreDeletes
	KVResumeFromRevision = kv.ResumeFromRevision
	KVLastRevision       = kv.LastRevision
)

// CreateKV makes a bucket; see kv.Client.Create.
func (c *Client) CreateKV(ctx context.Context, cfg KVConfig) (*KVBucket, error) {
	return c.kv.Create(ctx, cfg)
}

// GetOrCreateKV returns the bucket named cfg.Name, creating it when it does
// not exist; see kv.Client.GetOrCreate.
func (c *Client) GetOrCreateKV(ctx context.Context, cfg KVConfig) (*KVBucket, error) {
	return c.kv.GetOrCreate(ctx, cfg)
}

// KV opens an existing bucket; ErrNotFound when there is none. (The KV
// client itself is KeyValue().)
func (c *Client) KV(ctx context.Context, name string) (*KVBucket, error) {
	return c.kv.Open(ctx, name)
}

// DeleteKV removes a bucket and everything in it.
func (c *Client) DeleteKV(ctx context.Context, name string) error { return c.kv.Delete(ctx, name) }

// ListKV iterates over every bucket, in name order.
func (c *Client) ListKV(ctx context.Context) *KVBucketLister { return c.kv.List(ctx) }

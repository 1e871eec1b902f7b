package waymaker

import (
	"context"
	"iter"

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

// ListKV iterates over every bucket, in name order. KeyValue().List ranges
// over the same listing directly.
func (c *Client) ListKV(ctx context.Context) *KVBucketLister {
	return &KVBucketLister{seq: c.kv.List(ctx)}
}

// KVBucketLister iterates over buckets, from ListKV: Next, or All for a
// range loop, from one goroutine. It fetches every page at its first Next
// (All fetches them as it goes), so it holds nothing open and needs no
// Stop.
type KVBucketLister struct {
	seq     iter.Seq2[*KVStatus, error]
	started bool
	rest    []*KVStatus
	err     error
}

// Next returns the next bucket's status, (nil, nil) after the last, or
// (nil, err) when listing failed.
func (l *KVBucketLister) Next() (*KVStatus, error) {
	if !l.started {
		l.started = true
		l.rest, l.err = collect(l.seq)
	}
	if len(l.rest) == 0 {
		err := l.err
		l.err = nil
		return nil, err
	}
	st := l.rest[0]
	l.rest = l.rest[1:]
	return st, nil
}

// All ranges over the buckets Next has not returned yet; a failure is
// yielded once, last.
func (l *KVBucketLister) All() iter.Seq2[*KVStatus, error] {
	if !l.started {
		l.started = true
		return l.seq
	}
	return func(yield func(*KVStatus, error) bool) {
		for {
			st, err := l.Next()
			if err != nil {
				yield(nil, err)
				return
			}
			if st == nil || !yield(st, nil) {
				return
			}
		}
	}
}

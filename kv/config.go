package kv

import (
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
)

// Config configures a bucket. Zero fields take the documented defaults.
type Config struct {
	// Name names the bucket: 1 to 256 bytes of [A-Za-z0-9_-]. Required.
	Name string
	// Description is free text.
	Description string
	// History is how many entries are kept per key, the latest included.
	// 0 means 1; at most 64.
	History int
	// TTL is how long an entry lives after it was written; 0 means forever.
	// An expired value disappears as if purged, and watchers see a purge.
	// Millisecond resolution (a positive TTL under 1ms counts as 1ms).
	TTL time.Duration
	// MaxValueSize is the largest value accepted, in bytes; 0 takes the
	// server's limit (1 MiB by default), which is also the most it may be.
	MaxValueSize int64
	// MaxBytes bounds the bucket's total size (keys, values and history);
	// 0 means unbounded. A write beyond it fails with ErrLimitExceeded.
	MaxBytes int64
}

// MaxHistory is the most entries a bucket can keep per key.
const MaxHistory = 64

func (c Config) validate() error {
	if err := checkBucket("Name", c.Name); err != nil {
		return err
	}
	switch {
	case c.History < 0 || c.History > MaxHistory:
		return invalid("History", "must be between 0 and %d, got %d", MaxHistory, c.History)
	case c.TTL < 0:
		return invalid("TTL", "must not be negative, got %v", c.TTL)
	case c.MaxValueSize < 0:
		return invalid("MaxValueSize", "must not be negative, got %d", c.MaxValueSize)
	case c.MaxBytes < 0:
		return invalid("MaxBytes", "must not be negative, got %d", c.MaxBytes)
	case len(c.Description) > 4096:
		return invalid("Description", "is %d bytes, limit 4096", len(c.Description))
	}
	return nil
}

func (c Config) toPB() *kvpb.KVBucketConfig {
	ttl := c.TTL.Milliseconds()
	if c.TTL > 0 && ttl == 0 {
		ttl = 1
	}
	return &kvpb.KVBucketConfig{
		Name:         c.Name,
		Description:  c.Description,
		History:      uint32(c.History),
		TtlMs:        ttl,
		MaxValueSize: c.MaxValueSize,
		MaxBytes:     c.MaxBytes,
	}
}

func configFromPB(p *kvpb.KVBucketConfig) Config {
	return Config{
		Name:         p.GetName(),
		Description:  p.GetDescription(),
		History:      int(p.GetHistory()),
		TTL:          time.Duration(p.GetTtlMs()) * time.Millisecond,
		MaxValueSize: p.GetMaxValueSize(),
		MaxBytes:     p.GetMaxBytes(),
	}
}

// Status is a bucket's configuration (defaults filled in) and state.
type Status struct {
	// Config is the bucket's configuration as the server applies it.
	Config Config
	// Values is the number of live keys.
	Values int64
	// Entries is the number of stored entries, history and markers included.
	Entries int64
	// Bytes is the stored size, history included.
	Bytes int64
	// Revision is the bucket's latest revision; 0 before the first write.
	Revision uint64
	// Created is when the bucket was created.
	Created time.Time
}

func statusFromPB(p *kvpb.KVBucketInfo) *Status {
	return &Status{
		Config:   configFromPB(p.GetConfig()),
		Values:   p.GetValues(),
		Entries:  p.GetEntries(),
		Bytes:    p.GetBytes(),
		Revision: p.GetRevision(),
		Created:  time.UnixMilli(p.GetCreatedAtMs()),
	}
}

// Operation is what an entry records.
type Operation int

// Operations.
const (
	// OpPut stores a value.
	OpPut Operation = iota + 1
	// OpDelete deletes the key; its earlier history is kept.
	OpDelete
	// OpPurge deletes the key and its history (also what TTL expiry records).
	OpPurge
)

func (o Operation) String() string {
	switch o {
	case OpPut:
		return "PUT"
	case OpDelete:
		return "DELETE"
	case OpPurge:
		return "PURGE"
	}
	return "UNKNOWN"
}

// Entry is one entry of a key: a value, or a delete or purge marker.
type Entry struct {
	// Bucket is the bucket's name.
	Bucket string
	// Key is the entry's key.
	Key string
	// Value is the stored value; nil for delete and purge markers.
	Value []byte
	// Revision is the bucket revision of this entry.
	Revision uint64
	// Created is when the entry was written (the leader's clock).
	Created time.Time
	// Operation is what the entry records.
	Operation Operation
}

func entryFromPB(p *kvpb.KVEntry) *Entry {
	return &Entry{
		Bucket:    p.GetBucket(),
		Key:       p.GetKey(),
		Value:     p.GetValue(),
		Revision:  p.GetRevision(),
		Created:   time.UnixMilli(p.GetCreatedAtMs()),
		Operation: Operation(p.GetOperation()),
	}
}

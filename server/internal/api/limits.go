package api

import (
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
)

// Limits bounds what a request may carry. Each handler validates against
// them before proposing anything, answering invalid_argument naming the
// field. A zero field means its default.
//
// Adding a limit: add the field with its default in the doc comment, and
// one line for it in Limits.table; WithDefaults and Validate follow.
type Limits struct {
	// MaxKeyLen bounds a KV key or a hash field, in bytes. Default 1024.
	MaxKeyLen int
	// MaxValueSize bounds a KV value, a queue message or a stream message
	// payload, in bytes. Default 1 MiB.
	MaxValueSize int
	// MaxNameLen bounds the name of a bucket, stream, consumer, lock,
	// collection, sketch, object store or object, in bytes. Default 256.
	MaxNameLen int
	// MaxSubjectLen bounds a stream subject or filter, in bytes. Default 1024.
	MaxSubjectLen int
	// MaxChunkSize bounds one object-store chunk, in bytes. Default 1 MiB.
	MaxChunkSize int
	// MaxSketchSize bounds the memory of one sketch (a Bloom filter's bits
	// across its sub-filters, a Count-Min or Top-K table), in bytes.
	// Default 64 MiB.
	MaxSketchSize int
	// WatchBacklog is how many of a KV bucket's most recent changes the
	// server keeps for its watchers, whatever the bucket's History: a
	// watcher that falls further behind gets "compacted" instead of a gap.
	// Default 10000.
	WatchBacklog int
	// WatchBacklogBytes bounds the keys and values of those changes, per
	// bucket, in bytes (the newest change is always kept). Default 64 MiB.
	WatchBacklogBytes int
}

type limitField struct {
	name string
	p    *int
	def  int
}

func (l *Limits) table() []limitField {
	return []limitField{
		{"MaxKeyLen", &l.MaxKeyLen, 1024},
		{"MaxValueSize", &l.MaxValueSize, 1 << 20},
		{"MaxNameLen", &l.MaxNameLen, 256},
		{"MaxSubjectLen", &l.MaxSubjectLen, 1024},
		{"MaxChunkSize", &l.MaxChunkSize, 1 << 20},
		{"MaxSketchSize", &l.MaxSketchSize, 64 << 20},
		{"WatchBacklog", &l.WatchBacklog, kv.DefaultWatchBacklog},
		{"WatchBacklogBytes", &l.WatchBacklogBytes, kv.DefaultWatchBacklogBytes},
	}
}

// DefaultLimits returns Limits with every field at its default.
func DefaultLimits() Limits { return Limits{}.WithDefaults() }

// WithDefaults returns l with each zero field set to its default.
func (l Limits) WithDefaults() Limits {
	for _, f := range l.table() {
		if *f.p == 0 {
			*f.p = f.def
		}
	}
	return l
}

// Validate reports the first field that no request could satisfy.
func (l Limits) Validate() error {
	for _, f := range l.table() {
		if *f.p < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", f.name, *f.p)
		}
	}
	return nil
}

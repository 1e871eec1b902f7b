package api

import (
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/objstore"
)

// DefaultMaxDurationMs is Limits.MaxDurationMs's default: 10 years of 365 days.
const DefaultMaxDurationMs = 10 * 365 * 24 * 3600 * 1000

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
	// MaxMessageSize bounds one gRPC message, request or response, in
	// bytes: a larger request is refused by gRPC with ResourceExhausted
	// before any handler runs. Default 16 MiB, the SDK's
	// transport.MaxMessageSize, so both sides agree.
	MaxMessageSize int
	// MaxSubjectsPerStream bounds the subjects of a stream and the filter
	// subjects of a consumer, per create or update. Default 1000: with
	// MaxSubjectLen that keeps a configuration near 1 MiB, and publish
	// lookups and overlap checks use a subject index either way. It is an
	// admission limit: a stream an older server (or a larger limit)
	// stored with more subjects stays as it is and is replayed as logged.
	MaxSubjectsPerStream int
	// MaxPatternLen bounds a MATCH glob pattern (HSCAN, SSCAN, SCAN), in
	// bytes. Default 1024.
	MaxPatternLen int
	// MaxDurationMs bounds every duration a request carries (TTLs, ages,
	// windows, timeouts, waits, delays), in milliseconds. Default 10 years
	// (315,360,000,000); at most 2^43 (msec.MaxDuration, about 278 years),
	// the ceiling apply enforces. A few durations have a lower
	// limit of their own (a lock's lease_ttl_ms and max_wait_ms: 1 hour).
	MaxDurationMs int
	// MaxDescriptionLen bounds the description of a bucket, stream,
	// consumer, collection, object store or object, and an ack's
	// term_reason, in bytes. Default 4096.
	MaxDescriptionLen int
	// MaxHeaderBytes bounds the headers of one stream message or object
	// (and an object's metadata), keys and values together, in bytes; each
	// header key is also bounded by MaxKeyLen. Default 64 KiB.
	MaxHeaderBytes int
	// WatchBacklog is how many of a KV bucket's most recent changes the
	// server keeps for its watchers, whatever the bucket's History: a
	// watcher that falls further behind gets "compacted" instead of a gap.
	// Default 10000.
	WatchBacklog int
	// WatchBacklogBytes bounds the keys and values of those changes, per
	// bucket, in bytes (the newest change is always kept). Default 64 MiB.
	WatchBacklogBytes int
	// ObjectUploadTimeoutMs is how long an object Put may go without a
	// chunk reaching raft before its upload is collected (by a replicated
	// tick, so every replica drops the same chunks), in milliseconds. A
	// Put whose client vanished leaves its chunks at most this long.
	// Default 120000 (2 minutes). Every node of a cluster must agree.
	ObjectUploadTimeoutMs int
	// SubscriptionBuffer bounds how many events one subscription (a KV
	// watch's live changes, a Consume stream's deliveries) holds on the
	// server between the state machine and gRPC: what it has read and gRPC
	// has not yet taken. A reader that stops leaves its handler waiting in
	// gRPC's flow control with at most this many in hand; nothing is read
	// for it meanwhile, and apply never waits on it. Default 256, at most
	// 10000 (a Consume stream's deliver batch).
	SubscriptionBuffer int
	// SubscriptionBufferBytes bounds the same events by size (KV keys and
	// values, message payloads), in bytes; the first event is always
	// taken, however large. Default 1 MiB.
	SubscriptionBufferBytes int
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
		{"MaxMessageSize", &l.MaxMessageSize, 16 << 20},
		{"MaxSubjectsPerStream", &l.MaxSubjectsPerStream, 1000},
		{"MaxPatternLen", &l.MaxPatternLen, 1024},
		{"MaxDurationMs", &l.MaxDurationMs, DefaultMaxDurationMs},
		{"MaxDescriptionLen", &l.MaxDescriptionLen, 4096},
		{"MaxHeaderBytes", &l.MaxHeaderBytes, 64 << 10},
		{"WatchBacklog", &l.WatchBacklog, kv.DefaultWatchBacklog},
		{"WatchBacklogBytes", &l.WatchBacklogBytes, kv.DefaultWatchBacklogBytes},
		{"ObjectUploadTimeoutMs", &l.ObjectUploadTimeoutMs, objstore.DefaultUploadTimeout},
		{"SubscriptionBuffer", &l.SubscriptionBuffer, DefaultSubscriptionBuffer},
		{"SubscriptionBufferBytes", &l.SubscriptionBufferBytes, DefaultSubscriptionBufferBytes},
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
	if l.SubscriptionBuffer > maxSubscriptionBuffer {
		return fmt.Errorf("SubscriptionBuffer: must be at most %d (a deliver batch), got %d", maxSubscriptionBuffer, l.SubscriptionBuffer)
	}
	if int64(l.MaxDurationMs) > msec.MaxDuration {
		return fmt.Errorf("MaxDurationMs: must be at most %d (2^43 ms), got %d", msec.MaxDuration, l.MaxDurationMs)
	}
	return nil
}

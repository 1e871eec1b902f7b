package cache

import (
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Eviction chooses which entry a full cache evicts.
type Eviction int

const (
	// LRU evicts the least recently used (read or written) entry first. It
	// is the zero value.
	LRU Eviction = iota
	// LFU evicts the least frequently used entry first; ties go to the
	// least recently used.
	LFU
)

func (e Eviction) String() string {
	switch e {
	case LRU:
		return "LRU"
	case LFU:
		return "LFU"
	}
	return "Eviction(" + itoa(int64(e)) + ")"
}

// Policy bounds a KV bucket, making it a cache.
type Policy struct {
	// Bucket is the KV bucket the policy attaches to; it must exist.
	Bucket string
	// MaxEntries bounds the number of live keys; 0 means no bound on the
	// count.
	MaxEntries int64
	// MaxBytes bounds the bytes of live keys and values; 0 means no bound on
	// size. At least one of MaxEntries and MaxBytes must be set.
	MaxBytes int64
	// DefaultTTL is how long an entry lives after it was written while the
	// policy is attached; 0 leaves only the bucket's own TTL. When both are
	// set the shorter wins. Millisecond granularity.
	DefaultTTL time.Duration
	// Eviction chooses which entry goes when a bound is reached.
	Eviction Eviction
}

// Stats are a cached bucket's counters since its policy was attached.
type Stats struct {
	// Bucket is the KV bucket.
	Bucket string
	// Hits counts KV Gets that found a live key.
	Hits int64
	// Misses counts KV Gets that found none.
	Misses int64
	// Evictions counts keys the policy evicted to stay within its bounds.
	Evictions int64
	// Expirations counts keys removed by the policy's DefaultTTL.
	Expirations int64
	// Entries is the number of live keys now.
	Entries int64
	// Bytes is the size of the live keys and values now.
	Bytes int64
	// AttachedAt is when the policy was attached.
	AttachedAt time.Time
}

func validBucket(field, name string) error {
	return transport.CheckName(field, name)
}

func (p Policy) validate() error {
	if err := validBucket("Bucket", p.Bucket); err != nil {
		return err
	}
	switch {
	case p.MaxEntries < 0:
		return transport.Invalid("MaxEntries", "must not be negative, got %d", p.MaxEntries)
	case p.MaxBytes < 0:
		return transport.Invalid("MaxBytes", "must not be negative, got %d", p.MaxBytes)
	case p.MaxEntries == 0 && p.MaxBytes == 0:
		return transport.Invalid("MaxEntries", "a policy needs a bound: set MaxEntries, MaxBytes or both")
	case p.DefaultTTL < 0:
		return transport.Invalid("DefaultTTL", "must not be negative, got %v", p.DefaultTTL)
	case p.DefaultTTL > 0 && p.DefaultTTL < time.Millisecond:
		return transport.Invalid("DefaultTTL", "must be 0 or at least 1ms, got %v", p.DefaultTTL)
	case p.Eviction != LRU && p.Eviction != LFU:
		return transport.Invalid("Eviction", "must be LRU or LFU, got %v", p.Eviction)
	}
	return nil
}

func (p Policy) toPB() *cachepb.CachePolicy {
	ev := cachepb.CacheEviction_CACHE_EVICTION_LRU
	if p.Eviction == LFU {
		ev = cachepb.CacheEviction_CACHE_EVICTION_LFU
	}
	return &cachepb.CachePolicy{
		Bucket: p.Bucket, MaxEntries: p.MaxEntries, MaxBytes: p.MaxBytes,
		DefaultTtlMs: p.DefaultTTL.Milliseconds(), Eviction: ev,
	}
}

func policyFromPB(p *cachepb.CachePolicy) Policy {
	ev := LRU
	if p.GetEviction() == cachepb.CacheEviction_CACHE_EVICTION_LFU {
		ev = LFU
	}
	return Policy{
		Bucket: p.GetBucket(), MaxEntries: p.GetMaxEntries(), MaxBytes: p.GetMaxBytes(),
		DefaultTTL: time.Duration(p.GetDefaultTtlMs()) * time.Millisecond, Eviction: ev,
	}
}

func statsFromPB(s *cachepb.CacheStats) Stats {
	return Stats{
		Bucket: s.GetBucket(), Hits: s.GetHits(), Misses: s.GetMisses(), Evictions: s.GetEvictions(),
		Expirations: s.GetExpirations(), Entries: s.GetEntries(), Bytes: s.GetBytes(),
		AttachedAt: time.UnixMilli(s.GetAttachedAtMs()),
	}
}

func itoa(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	var b [21]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

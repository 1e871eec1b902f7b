// Package cache is the reference server's cache: policies that bound a KV
// bucket by live keys and bytes, with LRU or LFU eviction and an optional
// TTL.
//
// Reads never pass through raft, so only the leader sees the access order:
// the service (api's CacheService, which wraps the KV service with
// api.NewCachedKV) counts hits and misses on KV Gets of
// cached buckets, tracks each key's recency and use count, and after every
// write proposes an eviction command naming the keys (with their
// revisions) that must go for the bucket to fit its bounds. Applying it
// purges each key through the KV state machine's own purge op, if the key
// is still at that revision, so every replica removes the same keys at the
// same point of the log. DefaultTTL expiry is decided in Tick from the KV
// state, which every replica shares.
//
// Policies and the eviction and expiration counters are replicated and
// snapshotted; hits, misses and the access order are the leader's and
// restart from the KV state (keys ordered by their last write).
package cache

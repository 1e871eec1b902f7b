package raftnode

import (
	"sync"

	"github.com/hashicorp/raft"
)

// logCacheBytes bounds the bytes of Data the log cache holds, beside its
// count (logCacheEntries): 32 entries of 1 MiB object chunks would be
// 32 MiB of heap, and with the garbage collector's headroom twice that.
const logCacheBytes = 8 << 20

// logCache keeps the latest entries written, as raft's LogCache does, so
// raft re-reads them (to replicate and to apply) without the store; unlike
// it, it is bounded by bytes as well as by count, evicting the oldest.
// Entries are stored with ascending indices; anything else (a write after
// a DeleteRange) starts it afresh.
type logCache struct {
	raft.LogStore
	mu     sync.Mutex
	ring   []*raft.Log
	lo, hi uint64 // indices cached: lo..hi, none when hi < lo
	bytes  int
	limit  int
}

func newLogCache(store raft.LogStore, entries, bytes int) *logCache {
	return &logCache{LogStore: store, ring: make([]*raft.Log, entries), lo: 1, limit: bytes}
}

func (c *logCache) GetLog(index uint64, l *raft.Log) error {
	c.mu.Lock()
	if index >= c.lo && index <= c.hi {
		if e := c.ring[index%uint64(len(c.ring))]; e != nil && e.Index == index {
			*l = *e
			c.mu.Unlock()
			return nil
		}
	}
	c.mu.Unlock()
	return c.LogStore.GetLog(index, l)
}

func (c *logCache) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range logs {
		if l.Index != c.hi+1 || c.hi < c.lo {
			c.resetLocked(l.Index)
		}
		n := uint64(len(c.ring))
		if c.hi-c.lo+1 == n {
			c.evictLocked()
		}
		c.ring[l.Index%n] = l
		c.hi = l.Index
		c.bytes += len(l.Data)
		for c.bytes > c.limit && c.lo < c.hi {
			c.evictLocked()
		}
	}
	return nil
}

// evictLocked drops the oldest entry.
func (c *logCache) evictLocked() {
	slot := c.lo % uint64(len(c.ring))
	if e := c.ring[slot]; e != nil {
		c.bytes -= len(e.Data)
		c.ring[slot] = nil
	}
	c.lo++
}

// resetLocked empties the cache; the next entry cached is index.
func (c *logCache) resetLocked(index uint64) {
	clear(c.ring)
	c.lo, c.hi, c.bytes = index, index-1, 0
}

func (c *logCache) DeleteRange(lo, hi uint64) error {
	c.mu.Lock()
	c.resetLocked(c.hi + 1)
	c.mu.Unlock()
	return c.LogStore.DeleteRange(lo, hi)
}

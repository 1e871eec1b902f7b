package main

import (
	"context"
	"errors"
	"fmt"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

func init() { register(70, "cache: a KV bucket bounded by an LRU or LFU policy", tourCache) }

func tourCache(ctx context.Context, c *waymaker.Client) error {
	bucket, err := c.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "tour-cache"})
	if err != nil {
		return err
	}
	p, err := c.CacheAttachPolicy(ctx, waymaker.CachePolicy{Bucket: "tour-cache", MaxEntries: 3, Eviction: waymaker.CacheLRU})
	if errors.Is(err, waymaker.ErrUnimplemented) {
		fmt.Println("this server has caching off: every cache call answers Unimplemented")
		return c.DeleteKV(ctx, "tour-cache")
	}
	if err != nil {
		return err
	}
	fmt.Printf("attached %v policy to bucket %s: at most %d keys\n", p.Eviction, p.Bucket, p.MaxEntries)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := bucket.Put(ctx, k, []byte("value of "+k)); err != nil {
			return err
		}
	}
	if _, err := bucket.Get(ctx, "a"); err != nil { // a is now the most recently used
		return err
	}
	if _, err := bucket.Put(ctx, "d", []byte("value of d")); err != nil {
		return err
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		_, err := bucket.Get(ctx, k)
		fmt.Printf("Get %s -> present: %v\n", k, err == nil)
	}
	st, err := c.CacheStats(ctx, "tour-cache")
	if err != nil {
		return err
	}
	fmt.Printf("stats: %d hits, %d misses, %d evictions, %d entries, %d bytes\n", st.Hits, st.Misses, st.Evictions, st.Entries, st.Bytes)
	if err := c.CacheDetachPolicy(ctx, "tour-cache"); err != nil {
		return err
	}
	fmt.Println("detached: eviction stops, the data stays")
	return c.DeleteKV(ctx, "tour-cache")
}

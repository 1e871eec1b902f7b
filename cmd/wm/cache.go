package main

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"git.awesomike.com/pub/waymaker-client/go/cache"
)

type policyJSON struct {
	Bucket       string `json:"bucket"`
	MaxEntries   int64  `json:"max_entries"`
	MaxBytes     int64  `json:"max_bytes"`
	DefaultTTLMs int64  `json:"default_ttl_ms"`
	Eviction     string `json:"eviction"`
}

func policyOf(p cache.Policy) policyJSON {
	return policyJSON{p.Bucket, p.MaxEntries, p.MaxBytes, p.DefaultTTL.Milliseconds(), strings.ToLower(p.Eviction.String())}
}

type statsJSON struct {
	Bucket      string     `json:"bucket"`
	Hits        int64      `json:"hits"`
	Misses      int64      `json:"misses"`
	Evictions   int64      `json:"evictions"`
	Expirations int64      `json:"expirations"`
	Entries     int64      `json:"entries"`
	Bytes       int64      `json:"bytes"`
	AttachedAt  *time.Time `json:"attached_at,omitempty"`
}

func (a *app) cacheCmd() *cobra.Command {
	ls := &cobra.Command{
		Use: "ls", Short: "list cache policies", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				out := []policyJSON{}
				for p, err := range c.Cache().List(ctx) {
					if err != nil {
						return err
					}
					out = append(out, policyOf(p))
				}
				return a.emit(out, func(w io.Writer) {
					row(w, "BUCKET", "MAX ENTRIES", "MAX BYTES", "DEFAULT TTL", "EVICTION")
					for _, p := range out {
						row(w, p.Bucket, p.MaxEntries, p.MaxBytes, dur(time.Duration(p.DefaultTTLMs)*time.Millisecond), p.Eviction)
					}
				})
			})
		},
	}
	var p cache.Policy
	var eviction string
	attach := &cobra.Command{
		Use: "attach BUCKET", Short: "make a KV bucket a cache: bound it, evict by LRU or LFU", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Bucket = args[0]
			switch eviction {
			case "lru":
				p.Eviction = cache.LRU
			case "lfu":
				p.Eviction = cache.LFU
			default:
				return usagef("--eviction %q: want lru or lfu", eviction)
			}
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				got, err := c.Cache().AttachPolicy(ctx, p)
				if err != nil {
					return err
				}
				return a.printPolicy(got)
			})
		},
	}
	attach.Flags().Int64Var(&p.MaxEntries, "max-entries", 0, "entries kept (0: unbounded)")
	attach.Flags().Int64Var(&p.MaxBytes, "max-bytes", 0, "bytes kept (0: unbounded)")
	attach.Flags().DurationVar(&p.DefaultTTL, "ttl", 0, "default TTL of an entry")
	attach.Flags().StringVar(&eviction, "eviction", "lru", "lru or lfu")
	detach := &cobra.Command{
		Use: "detach BUCKET", Short: "remove a bucket's cache policy", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simple(cmd, func(c clientT) error { return c.Cache().DetachPolicy(cmd.Context(), args[0]) },
				map[string]any{"bucket": args[0], "detached": true}, "detached the cache policy of "+args[0])
		},
	}
	info := &cobra.Command{
		Use: "info BUCKET", Short: "a bucket's cache policy", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				got, err := c.Cache().Policy(ctx, args[0])
				if err != nil {
					return err
				}
				return a.printPolicy(got)
			})
		},
	}
	stats := &cobra.Command{
		Use: "stats BUCKET", Short: "a cached bucket's hits, misses and evictions", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Cache().Stats(ctx, args[0])
				if err != nil {
					return err
				}
				j := statsJSON{s.Bucket, s.Hits, s.Misses, s.Evictions, s.Expirations, s.Entries, s.Bytes, tsJSON(s.AttachedAt)}
				return a.emit(j, func(w io.Writer) {
					kvTable(w, "bucket", j.Bucket, "hits", j.Hits, "misses", j.Misses, "evictions", j.Evictions,
						"expirations", j.Expirations, "entries", j.Entries, "bytes", bytesText(j.Bytes), "attached", tsPtr(j.AttachedAt))
				})
			})
		},
	}
	return group("cache", "cache policies over KV buckets, and their stats", ls, info, attach, detach, stats)
}

func (a *app) printPolicy(p cache.Policy) error {
	j := policyOf(p)
	return a.emit(j, func(w io.Writer) {
		kvTable(w, "bucket", j.Bucket, "max entries", j.MaxEntries, "max bytes", j.MaxBytes,
			"default ttl", dur(time.Duration(j.DefaultTTLMs)*time.Millisecond), "eviction", j.Eviction)
	})
}

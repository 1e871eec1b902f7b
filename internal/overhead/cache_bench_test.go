package overhead

import (
	"context"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/cache"
	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
)

// overheadCache answers Stats with fixed counters: the unary read a
// service polls to watch its cache.
type overheadCache struct {
	cachepb.UnimplementedCacheServiceServer
}

func (overheadCache) Stats(_ context.Context, req *cachepb.CacheServiceStatsRequest) (*cachepb.CacheServiceStatsResponse, error) {
	return &cachepb.CacheServiceStatsResponse{Result: okResult, Stats: &cachepb.CacheStats{
		Bucket: req.GetBucket(), Hits: 90, Misses: 10, Evictions: 3, Entries: 1000, Bytes: 1 << 20, AttachedAtMs: 1_700_000_000_000,
	}}, nil
}

func serveCache(s grpc.ServiceRegistrar) {
	cachepb.RegisterCacheServiceServer(s, overheadCache{})
}

func cachePairs(f *fixture) []pair {
	rpc := cachepb.NewCacheServiceClient(f.conn)
	c := cache.New(f.conn)
	return []pair{{
		name: "cache.Stats",
		raw: func(ctx context.Context) error {
			_, err := rpc.Stats(ctx, &cachepb.CacheServiceStatsRequest{Bucket: "b"})
			return err
		},
		wrapper: func(ctx context.Context) error {
			_, err := c.Stats(ctx, "b")
			return err
		},
	}}
}

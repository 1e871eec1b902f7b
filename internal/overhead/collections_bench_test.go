package overhead

import (
	"context"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/collections"
	"git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
)

// overheadCollections answers GetStore (to open a hash store), HSet and
// HGet with fixed successes.
type overheadCollections struct {
	collectionspb.UnimplementedCollectionsServiceServer
}

func (overheadCollections) GetStore(_ context.Context, req *collectionspb.CollectionsServiceGetStoreRequest) (*collectionspb.CollectionsServiceGetStoreResponse, error) {
	return &collectionspb.CollectionsServiceGetStoreResponse{Result: okResult, Info: &collectionspb.CollectionsStoreInfo{
		Config: &collectionspb.CollectionsStoreConfig{Name: req.GetStore()}, Kind: collectionspb.CollectionsStoreKind_COLLECTIONS_STORE_KIND_HASH,
	}}, nil
}

func (overheadCollections) HSet(context.Context, *collectionspb.CollectionsServiceHSetRequest) (*collectionspb.CollectionsServiceHSetResponse, error) {
	return &collectionspb.CollectionsServiceHSetResponse{Result: okResult, Added: 1}, nil
}

func (overheadCollections) HGet(context.Context, *collectionspb.CollectionsServiceHGetRequest) (*collectionspb.CollectionsServiceHGetResponse, error) {
	return &collectionspb.CollectionsServiceHGetResponse{Result: okResult, Value: []byte("value-of-sixteen")}, nil
}

func serveCollections(s grpc.ServiceRegistrar) {
	collectionspb.RegisterCollectionsServiceServer(s, overheadCollections{})
}

func collectionsPairs(f *fixture) []pair {
	rpc := collectionspb.NewCollectionsServiceClient(f.conn)
	c := collections.New(f.conn)
	var hs *collections.HashStore // opened on first use (one round trip)
	open := func(ctx context.Context) error {
		if hs != nil {
			return nil
		}
		var err error
		hs, err = c.HashStore(ctx, "h")
		return err
	}
	value := []byte("value-of-sixteen")
	return []pair{
		{
			name: "collections.HashStore.Get",
			raw: func(ctx context.Context) error {
				_, err := rpc.HGet(ctx, &collectionspb.CollectionsServiceHGetRequest{Store: "h", Key: "k", Field: "f"})
				return err
			},
			wrapper: func(ctx context.Context) error {
				if err := open(ctx); err != nil {
					return err
				}
				_, err := hs.Get(ctx, "k", "f")
				return err
			},
		},
		{
			name: "collections.HashStore.Set",
			raw: func(ctx context.Context) error {
				_, err := rpc.HSet(ctx, &collectionspb.CollectionsServiceHSetRequest{Store: "h", Key: "k", Fields: map[string][]byte{"f": value}})
				return err
			},
			wrapper: func(ctx context.Context) error {
				if err := open(ctx); err != nil {
					return err
				}
				_, err := hs.Set(ctx, "k", map[string][]byte{"f": value})
				return err
			},
		},
	}
}

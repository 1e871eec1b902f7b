package overhead

import (
	"context"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/kv"
)

// overheadKV answers Get and Put with a fixed success, so that the KV
// pairs below, and the transport pair (overhead_bench_test.go), measure client-side work only.
type overheadKV struct {
	kvpb.UnimplementedKVServiceServer
	entry *kvpb.KVEntry
}

func (s *overheadKV) Get(context.Context, *kvpb.KVServiceGetRequest) (*kvpb.KVServiceGetResponse, error) {
	return &kvpb.KVServiceGetResponse{Result: okResult, Entry: s.entry}, nil
}

func (s *overheadKV) Put(context.Context, *kvpb.KVServicePutRequest) (*kvpb.KVServicePutResponse, error) {
	return &kvpb.KVServicePutResponse{Result: okResult, Revision: 7}, nil
}

func serveKV(s grpc.ServiceRegistrar) {
	kvpb.RegisterKVServiceServer(s, &overheadKV{entry: &kvpb.KVEntry{Bucket: "b", Key: "k", Value: []byte("value-of-sixteen"), Revision: 7}})
}

func kvPairs(f *fixture) []pair {
	rpc := kvpb.NewKVServiceClient(f.conn)
	b := kv.New(f.conn).Bucket("b")
	value := []byte("value-of-sixteen")
	return []pair{
		{
			name: "kv.Get",
			raw: func(ctx context.Context) error {
				_, err := rpc.Get(ctx, &kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"})
				return err
			},
			wrapper: func(ctx context.Context) error {
				_, err := b.Get(ctx, "k")
				return err
			},
		},
		{
			name: "kv.Put",
			raw: func(ctx context.Context) error {
				_, err := rpc.Put(ctx, &kvpb.KVServicePutRequest{Bucket: "b", Key: "k", Value: value})
				return err
			},
			wrapper: func(ctx context.Context) error {
				_, err := b.Put(ctx, "k", value)
				return err
			},
		},
	}
}

package waymaker_test

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
)

func init() {
	overheadPairs = append(overheadPairs, func(f *overheadFixture) []overheadPair {
		rpc := kvpb.NewKVServiceClient(f.conn)
		b := f.client.KeyValue().Bucket("b")
		value := []byte("value-of-sixteen")
		return []overheadPair{
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
	})
}

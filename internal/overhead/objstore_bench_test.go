package overhead

import (
	"context"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/objstore"
)

// overheadObjects answers GetStore (to open a store handle) and GetInfo with
// fixed successes. Put and Get are streams whose cost is the data they move,
// which the harness measures against NATS; GetInfo is the unary call.
type overheadObjects struct {
	objstorepb.UnimplementedObjectStoreServiceServer
}

func (overheadObjects) GetStore(_ context.Context, req *objstorepb.ObjectStoreServiceGetStoreRequest) (*objstorepb.ObjectStoreServiceGetStoreResponse, error) {
	return &objstorepb.ObjectStoreServiceGetStoreResponse{Result: okResult, Info: &objstorepb.ObjectStoreInfo{
		Config: &objstorepb.ObjectStoreConfig{Name: req.GetStore()},
	}}, nil
}

func (overheadObjects) GetInfo(_ context.Context, req *objstorepb.ObjectStoreServiceGetInfoRequest) (*objstorepb.ObjectStoreServiceGetInfoResponse, error) {
	return &objstorepb.ObjectStoreServiceGetInfoResponse{Result: okResult, Info: &objstorepb.ObjectInfo{
		Store: req.GetStore(), Name: req.GetName(), Size: 1 << 20,
	}}, nil
}

func serveObjstore(s grpc.ServiceRegistrar) {
	objstorepb.RegisterObjectStoreServiceServer(s, overheadObjects{})
}

func objstorePairs(f *fixture) []pair {
	rpc := objstorepb.NewObjectStoreServiceClient(f.conn)
	c := objstore.New(f.conn)
	var st *objstore.Store // opened on first use (one round trip)
	return []pair{{
		name: "objstore.Store.GetInfo",
		raw: func(ctx context.Context) error {
			_, err := rpc.GetInfo(ctx, &objstorepb.ObjectStoreServiceGetInfoRequest{Store: "o", Name: "obj"})
			return err
		},
		wrapper: func(ctx context.Context) error {
			if st == nil {
				var err error
				if st, err = c.Store(ctx, "o"); err != nil {
					return err
				}
			}
			_, err := st.GetInfo(ctx, "obj")
			return err
		},
	}}
}

package server

import (
	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/cachepb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/api"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/auth"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/cache"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/kv"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/lock"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/objstore"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/sketch"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/stream"
)

// registerSubsystems is the one place a subsystem is plugged into the
// server, one block each: build the deterministic state machine
// (internal/<subsystem>), register it with the FSM (so its commands are
// replicated and its state snapshotted and restored), and register its
// gRPC service, built in internal/api, with the server. Decorators are
// visible here: the KV service is registered behind the cache's observer.
//
// Never rename a registered state machine: its name is in every log entry
// and snapshot written so far. The order of registration is the order of
// a snapshot's frames; add a new subsystem at the end.
func registerSubsystems(f *fsm.FSM, g grpc.ServiceRegistrar, d api.Deps, az *auth.Authorizer) error {
	locks := lock.New()
	if err := f.Register(locks); err != nil {
		return err
	}
	lockpb.RegisterLockServiceServer(g, api.NewLockService(locks, d))

	// The KV service is registered with the cache's block, behind the
	// cache's observer of its reads and writes.
	kvs := kv.New()
	if err := f.Register(kvs); err != nil {
		return err
	}
	kvService := api.NewKVService(kvs, d)

	caches := cache.New(kvs)
	if err := f.Register(caches); err != nil {
		return err
	}
	cacheService := api.NewCacheService(caches, kvs, d)
	cachepb.RegisterCacheServiceServer(g, cacheService)
	kvpb.RegisterKVServiceServer(g, api.NewCachedKV(kvService, cacheService))

	streams := stream.New()
	if err := f.Register(streams); err != nil {
		return err
	}
	streampb.RegisterStreamServiceServer(g, api.NewStreamService(streams, d))
	if az != nil {
		az.Streams = streamsBinding(streams) // a publish is checked on the streams its subject binds
	}

	colls := collections.New()
	if err := f.Register(colls); err != nil {
		return err
	}
	collectionspb.RegisterCollectionsServiceServer(g, api.NewCollectionsService(colls, d))

	sketches := sketch.New(api.SketchLimits(d.Limits))
	if err := f.Register(sketches); err != nil {
		return err
	}
	sketchpb.RegisterSketchServiceServer(g, api.NewSketchService(sketches, d))

	objects, err := objstore.New(d.DataDir)
	if err != nil {
		return err
	}
	if err := f.Register(objects); err != nil {
		return err
	}
	objstorepb.RegisterObjectStoreServiceServer(g, api.NewObjectStoreService(objects, d))
	return nil
}

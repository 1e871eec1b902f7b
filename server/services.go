package server

import (
	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/api"
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
// server. For each subsystem it registers the deterministic state machine
// with the FSM (so its commands are replicated, and its state snapshotted and
// restored) and the gRPC service with the server, for example:
//
//	locksm := lock.New()
//	if err := f.Register(locksm); err != nil {
//		return err
//	}
//	lockpb.RegisterLockServiceServer(g, api.NewLockService(locksm, d))
//
// Never rename a registered state machine: its name is in every log entry
// and snapshot written so far.
func registerSubsystems(f *fsm.FSM, g grpc.ServiceRegistrar, d api.Deps) error {
	locksm := lock.New()
	if err := f.Register(locksm); err != nil {
		return err
	}
	lockpb.RegisterLockServiceServer(g, api.NewLockService(locksm, d))
	kvsm := kv.New()
	if err := f.Register(kvsm); err != nil {
		return err
	}
	kvs := api.NewKVService(kvsm, d)
	// The cache observes KV reads and writes, so it registers the KV service.
	if err := cache.Register(f, g, d, kvsm, kvs); err != nil {
		return err
	}
	streamSM := stream.New()
	if err := f.Register(streamSM); err != nil {
		return err
	}
	streampb.RegisterStreamServiceServer(g, api.NewStreamService(streamSM, d))
	collsm := collections.New()
	if err := f.Register(collsm); err != nil {
		return err
	}
	collectionspb.RegisterCollectionsServiceServer(g, api.NewCollectionsService(collsm, d))
	sketchsm := sketch.New(api.SketchLimits(d.Limits))
	if err := f.Register(sketchsm); err != nil {
		return err
	}
	sketchpb.RegisterSketchServiceServer(g, api.NewSketchService(sketchsm, d))
	if err := objstore.Register(f, g, d); err != nil {
		return err
	}
	return nil
}

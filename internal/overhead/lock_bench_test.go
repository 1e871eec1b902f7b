package overhead

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/lock"
)

// overheadLock grants every TryAcquire at once, releases every Release, and
// holds an Acquire event stream open, sending nothing, until the client ends
// it (as a server does for a healthy lease).
type overheadLock struct {
	lockpb.UnimplementedLockServiceServer
}

func (overheadLock) TryAcquire(_ context.Context, req *lockpb.LockServiceTryAcquireRequest) (*lockpb.LockServiceTryAcquireResponse, error) {
	return &lockpb.LockServiceTryAcquireResponse{Result: okResult, Lease: &lockpb.LockLease{
		LeaseId: "lease-1", RequestId: req.GetRequestId(), Scope: req.GetScope(),
		Grants:           []*lockpb.LockGrant{{Key: req.GetKey(), Mode: req.GetMode(), FenceToken: 42}},
		LeaseExpiresAtMs: time.Now().Add(time.Minute).UnixMilli(), LeaseTtlMs: req.GetLeaseTtlMs(), GrantedAtMs: time.Now().UnixMilli(),
	}}, nil
}

func (overheadLock) Acquire(_ *lockpb.LockServiceAcquireRequest, s grpc.ServerStreamingServer[lockpb.LockServiceAcquireResponse]) error {
	<-s.Context().Done()
	return nil
}

func (overheadLock) Release(context.Context, *lockpb.LockServiceReleaseRequest) (*lockpb.LockServiceReleaseResponse, error) {
	return &lockpb.LockServiceReleaseResponse{Result: okResult}, nil
}

func (overheadLock) Inspect(context.Context, *lockpb.LockServiceInspectRequest) (*lockpb.LockServiceInspectResponse, error) {
	return &lockpb.LockServiceInspectResponse{Result: okResult}, nil
}

func serveLock(s grpc.ServiceRegistrar) {
	lockpb.RegisterLockServiceServer(s, overheadLock{})
}

func lockPairs(f *fixture) []pair {
	rpc := lockpb.NewLockServiceClient(f.conn)
	c := lock.New(f.conn)
	return []pair{
		{
			name: "lock.Inspect",
			raw: func(ctx context.Context) error {
				_, err := rpc.Inspect(ctx, &lockpb.LockServiceInspectRequest{Key: "k"})
				return err
			},
			wrapper: func(ctx context.Context) error {
				_, err := c.Inspect(ctx, "k", lock.ScopeQuorum)
				return err
			},
		},
		{
			// A Lock unlocked this soon never opens its lease's event
			// stream (it opens a quarter of the TTL, at most 200ms, after
			// the grant), so this is the cost of a short critical section.
			name: "lock.Acquire+Unlock",
			raw: func(ctx context.Context) error {
				resp, err := rpc.TryAcquire(ctx, &lockpb.LockServiceTryAcquireRequest{Key: "k", RequestId: "r-1", LeaseTtlMs: 30_000})
				if err != nil {
					return err
				}
				_, err = rpc.Release(ctx, &lockpb.LockServiceReleaseRequest{LeaseId: resp.GetLease().GetLeaseId(), RequestId: "r-1"})
				return err
			},
			wrapper: func(ctx context.Context) error {
				l, err := c.Acquire(ctx, "k", lock.Config{LeaseTTL: 30 * time.Second})
				if err != nil {
					return err
				}
				return l.Unlock(ctx)
			},
		},
	}
}

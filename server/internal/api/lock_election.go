package api

import (
	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// lockObserveBatch is how many holder changes one look sends before it
// looks again.
const lockObserveBatch = 64

// Observe implements lockpb.LockServiceServer: the holders of one quorum
// key now (unless resuming), then every change of them in revision order.
// It passes the read rule once at its start, so a resume point any node
// handed out is applied here; after that every change is read as this
// node applies it, in log order, so no change is sent twice, skipped or
// sent out of order.
func (s *LockService) Observe(req *lockpb.LockServiceObserveRequest, stream grpc.ServerStreamingServer[lockpb.LockServiceObserveResponse]) error {
	send := func(m *lockpb.LockServiceObserveResponse) error { return stream.Send(m) }
	var v Validator
	v.NonEmpty("key", req.GetKey())
	v.MaxLen("key", len(req.GetKey()), s.d.Limits.MaxKeyLen)
	v.Check(req.GetResume() || req.GetAfterRevision() == 0, "after_revision", "is only valid with resume")
	ctx := stream.Context()
	if r := readStart(ctx, s.d, v.Result()); r != nil {
		return send(&lockpb.LockServiceObserveResponse{Result: r})
	}
	t := s.quorum.table()
	key := req.GetKey()
	// Subscribe before the first look, so no change between the look and
	// the wait is missed.
	w := t.WatchHolders(key)
	defer w.Stop()
	cursor := req.GetAfterRevision()
	if !req.GetResume() {
		holders, rev := t.HolderState(key)
		if err := send(&lockpb.LockServiceObserveResponse{Result: result.OK(), Initial: true, Revision: rev, Holders: holders}); err != nil {
			return err
		}
		cursor = rev
	}
	buf := make([]*lockpb.LockHolderChange, 0, lockObserveBatch)
	for {
		var r *commonpb.Result
		buf, cursor, r = t.HolderChanges(key, cursor, lockObserveBatch, buf[:0])
		if r != nil {
			return send(&lockpb.LockServiceObserveResponse{Result: r})
		}
		for _, c := range buf {
			if err := send(&lockpb.LockServiceObserveResponse{Result: result.OK(), Revision: c.Revision, Change: c}); err != nil {
				return err
			}
		}
		if len(buf) == lockObserveBatch {
			continue // more may be waiting
		}
		select {
		case <-w.C():
			_ = w.Wait(ctx) // re-subscribes; returns at once
		case <-ctx.Done():
			return nil
		case <-s.d.Stopping:
			return send(&lockpb.LockServiceObserveResponse{Result: result.Fail(result.CodeUnavailable, "server stopping; rebind")})
		}
	}
}

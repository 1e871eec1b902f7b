package api

import (
	"context"
	"time"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/collections"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

func (s *CollectionsService) receipt(queue, receipt string) *collectionsValidator {
	v := s.validator()
	v.store("queue", queue)
	v.NonEmpty("receipt", receipt)
	_, _, _, ok := collections.ParseReceipt(receipt)
	v.Check(ok, "receipt", "not a receipt this server handed out")
	return v
}

func (s *CollectionsService) QueuePush(ctx context.Context, req *pb.CollectionsServiceQueuePushRequest) (*pb.CollectionsServiceQueuePushResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	v.value("payload", req.GetPayload())
	v.MaxLen("id", len(req.GetId()), s.d.Limits.MaxKeyLen)
	if req.DelayMs != nil {
		v.Duration("delay_ms", req.GetDelayMs(), s.d.Limits.MaxDurationMs)
	}
	v.Check(len(req.GetAttributes()) <= 64, "attributes", "at most 64")
	for k, val := range req.GetAttributes() {
		v.key("attributes", k)
		v.MaxLen("attributes", len(val), s.d.Limits.MaxKeyLen)
	}
	return write[*pb.CollectionsServiceQueuePushResponse](ctx, s.d, collections.Name, collections.OpQueuePush, req, v.Result())
}

// QueuePop pops at once when a message is ready; otherwise it parks on the
// queue's notifier (fired by apply on a push, a nack, a tick that readies a
// message, or the queue's deletion) and on a timer for the next delayed or
// in-flight message, until wait_ms runs out. A pop is proposed only when a
// look at the state says it would find something, so idle waiters write
// nothing to the log.
func (s *CollectionsService) QueuePop(ctx context.Context, req *pb.CollectionsServiceQueuePopRequest) (*pb.CollectionsServiceQueuePopResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	v.Duration("wait_ms", req.GetWaitMs(), s.d.Limits.MaxDurationMs)
	if req.VisibilityTimeoutMs != nil {
		v.Check(req.GetVisibilityTimeoutMs() > 0, "visibility_timeout_ms", "must be positive")
		v.Duration("visibility_timeout_ms", req.GetVisibilityTimeoutMs(), s.d.Limits.MaxDurationMs)
	}
	v.NonNegative("max_messages", int64(req.GetMaxMessages()))
	v.Check(req.GetMaxMessages() <= collections.MaxPopMessages, "max_messages", "at most 1000")
	if r := v.Result(); r != nil {
		return &pb.CollectionsServiceQueuePopResponse{Result: r}, nil
	}
	return respond(s.pop(ctx, req))
}

// pop answers a valid pop: the answer to its request id if it was applied
// before, else a pop proposed once a message is ready, within wait_ms.
func (s *CollectionsService) pop(ctx context.Context, req *pb.CollectionsServiceQueuePopRequest) (*pb.CollectionsServiceQueuePopResponse, *commonpb.Result) {
	if rid := req.GetRequestId(); rid != "" && s.d.Remembered != nil {
		if res, ok := s.d.Remembered(collections.Name, rid); ok {
			if resp, ok := res.(*pb.CollectionsServiceQueuePopResponse); ok {
				return resp, nil // a retry of a pop that was applied
			}
		}
	}
	deadline := time.Now().Add(time.Duration(req.GetWaitMs()) * time.Millisecond)
	var w *notify.Waiter[string]
	defer func() {
		if w != nil {
			w.Stop()
		}
	}()
	for {
		ready, nextDue, r := s.sm.Poppable(req.GetQueue(), nowMs())
		if r != nil {
			return nil, r
		}
		if ready > 0 && s.claimPop(req.GetQueue(), ready) {
			resp, r := Propose[*pb.CollectionsServiceQueuePopResponse](ctx, s.d.Node, collections.Name, collections.OpQueuePop, req)
			s.releasePop(req.GetQueue())
			if r != nil {
				return nil, r
			}
			if !resp.GetResult().GetSuccess() || len(resp.GetMessages()) > 0 {
				return resp, nil
			}
			// Another pop took it first: wait on.
		}
		// Else pops in flight may take every ready message; each one that
		// ends fires the queue, and this waiter looks again then.
		left := time.Until(deadline)
		if left <= 0 {
			return nil, result.Fail(result.CodeExpired, "no message was ready within wait_ms")
		}
		if w == nil {
			// Subscribe, then look again: a push between the look above
			// and the subscription would otherwise be missed.
			w = s.sm.Watch(req.GetQueue())
			continue
		}
		if nextDue > 0 {
			left = min(left, time.Until(time.UnixMilli(nextDue)))
		}
		t := time.NewTimer(max(left, time.Millisecond))
		select {
		case <-w.C():
			_ = w.Wait(ctx) // re-subscribe; returns at once
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, FromError(ctx.Err())
		case <-s.d.Stopping:
			t.Stop()
			return nil, result.Fail(result.CodeUnavailable, "server stopping")
		}
		t.Stop()
	}
}

// claimPop reserves a pop proposal for queue when fewer are in flight than
// messages are ready.
func (s *CollectionsService) claimPop(queue string, ready int) bool {
	s.popMu.Lock()
	defer s.popMu.Unlock()
	if s.popping[queue] >= ready {
		return false
	}
	s.popping[queue]++
	return true
}

// releasePop ends a claim and wakes the queue's other waiters, which held
// back while it was in flight: messages may be left for them.
func (s *CollectionsService) releasePop(queue string) {
	s.popMu.Lock()
	if s.popping[queue]--; s.popping[queue] == 0 {
		delete(s.popping, queue)
	}
	s.popMu.Unlock()
	s.sm.Wake(queue)
}

func (s *CollectionsService) QueueAck(ctx context.Context, req *pb.CollectionsServiceQueueAckRequest) (*pb.CollectionsServiceQueueAckResponse, error) {
	return write[*pb.CollectionsServiceQueueAckResponse](ctx, s.d, collections.Name, collections.OpQueueAck, req, s.receipt(req.GetQueue(), req.GetReceipt()).Result())
}

func (s *CollectionsService) QueueNack(ctx context.Context, req *pb.CollectionsServiceQueueNackRequest) (*pb.CollectionsServiceQueueNackResponse, error) {
	v := s.receipt(req.GetQueue(), req.GetReceipt())
	v.Duration("delay_ms", req.GetDelayMs(), s.d.Limits.MaxDurationMs)
	return write[*pb.CollectionsServiceQueueNackResponse](ctx, s.d, collections.Name, collections.OpQueueNack, req, v.Result())
}

func (s *CollectionsService) QueueExtendVisibility(ctx context.Context, req *pb.CollectionsServiceQueueExtendVisibilityRequest) (*pb.CollectionsServiceQueueExtendVisibilityResponse, error) {
	v := s.receipt(req.GetQueue(), req.GetReceipt())
	v.Check(req.GetVisibilityTimeoutMs() > 0, "visibility_timeout_ms", "must be positive")
	v.Duration("visibility_timeout_ms", req.GetVisibilityTimeoutMs(), s.d.Limits.MaxDurationMs)
	return write[*pb.CollectionsServiceQueueExtendVisibilityResponse](ctx, s.d, collections.Name, collections.OpQueueExtend, req, v.Result())
}

func (s *CollectionsService) QueueLen(ctx context.Context, req *pb.CollectionsServiceQueueLenRequest) (*pb.CollectionsServiceQueueLenResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceQueueLenResponse { return s.sm.QueueLen(req, nowMs()) })
}

func (s *CollectionsService) QueuePeek(ctx context.Context, req *pb.CollectionsServiceQueuePeekRequest) (*pb.CollectionsServiceQueuePeekResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	v.NonNegative("count", int64(req.GetCount()))
	v.Check(req.GetCount() <= collections.MaxPopMessages, "count", "at most 1000")
	return read(ctx, s.d, v.Result(), func() *pb.CollectionsServiceQueuePeekResponse { return s.sm.QueuePeek(req) })
}

func (s *CollectionsService) QueuePurge(ctx context.Context, req *pb.CollectionsServiceQueuePurgeRequest) (*pb.CollectionsServiceQueuePurgeResponse, error) {
	v := s.validator()
	v.store("queue", req.GetQueue())
	return write[*pb.CollectionsServiceQueuePurgeResponse](ctx, s.d, collections.Name, collections.OpQueuePurge, req, v.Result())
}

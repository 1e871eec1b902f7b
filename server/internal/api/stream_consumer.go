package api

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/park"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/stream"
)

// CreateConsumer implements StreamService.
func (h *StreamService) CreateConsumer(ctx context.Context, req *sp.StreamServiceCreateConsumerRequest) (*sp.StreamServiceCreateConsumerResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	h.checkConsumerConfig(&v, req.GetConfig(), false)
	return write[*sp.StreamServiceCreateConsumerResponse](ctx, h.d, stream.Name, stream.OpCreateConsumer, req, v.Result())
}

// UpdateConsumer implements StreamService.
func (h *StreamService) UpdateConsumer(ctx context.Context, req *sp.StreamServiceUpdateConsumerRequest) (*sp.StreamServiceUpdateConsumerResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	h.checkConsumerConfig(&v, req.GetConfig(), true)
	return write[*sp.StreamServiceUpdateConsumerResponse](ctx, h.d, stream.Name, stream.OpUpdateConsumer, req, v.Result())
}

func (h *StreamService) checkConsumerRef(v *Validator, streamName, consumer string) {
	h.checkName(v, "stream", streamName)
	h.checkName(v, "consumer", consumer)
}

// GetConsumer implements StreamService.
func (h *StreamService) GetConsumer(ctx context.Context, req *sp.StreamServiceGetConsumerRequest) (*sp.StreamServiceGetConsumerResponse, error) {
	var v Validator
	h.checkConsumerRef(&v, req.GetStream(), req.GetConsumer())
	return read(ctx, h.d, v.Result(), func() *sp.StreamServiceGetConsumerResponse {
		return h.sm.ConsumerInfo(req.GetStream(), req.GetConsumer())
	})
}

// DeleteConsumer implements StreamService.
func (h *StreamService) DeleteConsumer(ctx context.Context, req *sp.StreamServiceDeleteConsumerRequest) (*sp.StreamServiceDeleteConsumerResponse, error) {
	var v Validator
	h.checkConsumerRef(&v, req.GetStream(), req.GetConsumer())
	return write[*sp.StreamServiceDeleteConsumerResponse](ctx, h.d, stream.Name, stream.OpDeleteConsumer, req, v.Result())
}

// ListConsumers implements StreamService.
func (h *StreamService) ListConsumers(ctx context.Context, req *sp.StreamServiceListConsumersRequest) (*sp.StreamServiceListConsumersResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	size := v.PageSize("page_size", req.GetPageSize(), defaultPageSize, maxPageSize)
	after := v.PageToken("page_token", ScopeConsumers(req.GetStream()), req.GetPageToken())
	return read(ctx, h.d, v.Result(), func() *sp.StreamServiceListConsumersResponse {
		infos, next, ok := h.sm.ListConsumers(req.GetStream(), after, size)
		if !ok {
			return failed[*sp.StreamServiceListConsumersResponse](result.Failf(result.CodeNotFound, "stream: %q not found", req.GetStream()))
		}
		return &sp.StreamServiceListConsumersResponse{Result: result.OK(), Consumers: infos, NextPageToken: NextPageToken(ScopeConsumers(req.GetStream()), next)}
	})
}

// Consume implements StreamService: push delivery. Whenever the consumer
// has work it proposes a deliver command and streams what it answers;
// otherwise it waits for the stream's notification.
func (h *StreamService) Consume(req *sp.StreamServiceConsumeRequest, srv sp.StreamService_ConsumeServer) error {
	var v Validator
	h.checkConsumerRef(&v, req.GetStream(), req.GetConsumer())
	v.Duration("idle_heartbeat_ms", req.GetIdleHeartbeatMs(), h.d.Limits.MaxDurationMs)
	ctx := srv.Context()
	if r := readStart(ctx, h.d, v.Result()); r != nil {
		return srv.Send(&sp.StreamServiceConsumeResponse{Result: r})
	}
	w := h.sm.WatchConsumer(req.GetStream(), req.GetConsumer())
	// One deliver command at a time, bounded by count and bytes, the next
	// once the stream has taken this one: a reader that stops holds at most
	// one batch here, and the rest stays in the stream (its MaxAckPending
	// and AckWait apply to what was delivered).
	n, maxBytes := subscriptionBatch(h.d.Limits)
	l := &consumeLoop{h: h, ctx: ctx, srv: srv, w: w, hd: held{s: h.d.Subs},
		deliver: &sp.StreamServiceFetchRequest{Stream: req.GetStream(), Consumer: req.GetConsumer(), Batch: int32(n), MaxBytes: maxBytes}}

	// A bound ephemeral consumer is kept alive by touching it, and idle
	// heartbeats are sent on a timer: those streams wait on this
	// goroutine. Any other waits without one when the stream can take its
	// loop (park).
	var touch <-chan time.Time
	if eph, inactive := h.sm.Ephemeral(req.GetStream(), req.GetConsumer()); eph {
		every := min(time.Duration(inactive)*time.Millisecond/3, streamIdleTouch)
		t := time.NewTicker(max(every, 10*time.Millisecond))
		defer t.Stop()
		touch = t.C
	}
	var hb <-chan time.Time
	var hbTimer *time.Timer
	if d := req.GetIdleHeartbeatMs(); d > 0 {
		hbTimer = time.NewTimer(time.Duration(d) * time.Millisecond)
		defer hbTimer.Stop()
		hb = hbTimer.C
	}
	if touch == nil && hb == nil {
		return park.Run(ctx, srv, h.d.Stopping, l)
	}
	defer l.Close()
	for {
		w, err := l.Step()
		if w == nil {
			return err
		}
		if l.delivered && hbTimer != nil {
			hbTimer.Reset(time.Duration(req.GetIdleHeartbeatMs()) * time.Millisecond)
		}
		select {
		case <-w.C():
			_ = w.Wait(ctx)
		case <-ctx.Done():
			return nil
		case <-h.d.Stopping:
			return l.Stopping()
		case <-touch:
			_, _ = Propose[*sp.StreamServiceGetConsumerResponse](ctx, h.d.Node, stream.Name, stream.OpTouch,
				&sp.StreamServiceGetConsumerRequest{Stream: req.GetStream(), Consumer: req.GetConsumer()})
		case <-hb:
			if err := srv.Send(&sp.StreamServiceConsumeResponse{Result: result.OK(), Heartbeat: true}); err != nil {
				return err
			}
			hbTimer.Reset(time.Duration(req.GetIdleHeartbeatMs()) * time.Millisecond)
		}
	}
}

// consumeLoop is push delivery in steps (park.Loop): each step delivers
// while the consumer has work, then waits for the stream's notification.
type consumeLoop struct {
	h         *StreamService
	ctx       context.Context
	srv       sp.StreamService_ConsumeServer
	w         *notify.Waiter[string]
	hd        held
	deliver   *sp.StreamServiceFetchRequest
	delivered bool // the last step delivered messages
}

func (l *consumeLoop) Step() (park.Waiter, error) {
	l.delivered = false
	for {
		exists, work := l.h.sm.Work(l.deliver.Stream, l.deliver.Consumer)
		if !exists {
			return nil, l.srv.Send(&sp.StreamServiceConsumeResponse{Result: result.Failf(result.CodeNotFound, "consumer: %q not found on stream %q", l.deliver.Consumer, l.deliver.Stream)})
		}
		if !work {
			return l.w, nil
		}
		resp, r := Propose[*sp.StreamServiceFetchResponse](l.ctx, l.h.d.Node, stream.Name, stream.OpDeliver, l.deliver)
		if r == nil {
			r = resp.GetResult()
		}
		switch {
		case r.GetSuccess():
			var size int64
			for _, m := range resp.GetMsgs() {
				size += int64(len(m.GetData()))
			}
			l.hd.add(len(resp.GetMsgs()), size)
			for _, m := range resp.GetMsgs() {
				err := l.srv.Send(&sp.StreamServiceConsumeResponse{Result: result.OK(), Msg: m})
				l.hd.done(int64(len(m.GetData())))
				if err != nil {
					return nil, err
				}
			}
			l.delivered = true
		case r.GetResultCode() == result.CodeExpired:
			return l.w, nil // another stream of the consumer took it first; wait
		case r.GetResultCode() == result.CodeUnavailable || r.GetResultCode() == result.CodeNotLeader:
			return nil, status.Error(codes.Unavailable, r.GetMessage())
		default:
			return nil, l.srv.Send(&sp.StreamServiceConsumeResponse{Result: r})
		}
	}
}

func (l *consumeLoop) Stopping() error { return status.Error(codes.Unavailable, "server stopping") }

func (l *consumeLoop) Close() {
	l.w.Stop()
	l.hd.release()
}

// Fetch implements StreamService: pull delivery with a bounded wait.
func (h *StreamService) Fetch(ctx context.Context, req *sp.StreamServiceFetchRequest) (*sp.StreamServiceFetchResponse, error) {
	var v Validator
	h.checkConsumerRef(&v, req.GetStream(), req.GetConsumer())
	v.Check(req.GetBatch() >= 0 && req.GetBatch() <= maxFetchBatch, "batch", fmt.Sprintf("must be 0..%d", maxFetchBatch))
	v.Duration("max_wait_ms", req.GetMaxWaitMs(), h.d.Limits.MaxDurationMs)
	v.NonNegative("max_bytes", req.GetMaxBytes())
	if r := v.Result(); r != nil {
		return failed[*sp.StreamServiceFetchResponse](r), nil
	}
	return respond(h.fetch(ctx, req))
}

// fetch delivers what the consumer has, waiting for work up to max_wait_ms.
func (h *StreamService) fetch(ctx context.Context, req *sp.StreamServiceFetchRequest) (*sp.StreamServiceFetchResponse, *commonpb.Result) {
	w := h.sm.WatchConsumer(req.GetStream(), req.GetConsumer())
	defer w.Stop()
	var expire <-chan time.Time
	if d := req.GetMaxWaitMs(); d > 0 {
		t := time.NewTimer(time.Duration(d) * time.Millisecond)
		defer t.Stop()
		expire = t.C
	}
	for {
		exists, work := h.sm.Work(req.GetStream(), req.GetConsumer())
		if !exists {
			return nil, result.Failf(result.CodeNotFound, "consumer: %q not found on stream %q", req.GetConsumer(), req.GetStream())
		}
		if work {
			resp, r := Propose[*sp.StreamServiceFetchResponse](ctx, h.d.Node, stream.Name, stream.OpDeliver, req)
			if r != nil {
				return nil, r
			}
			if resp.GetResult().GetResultCode() != result.CodeExpired {
				return resp, nil
			}
		}
		if expire == nil {
			return nil, result.Fail(result.CodeExpired, "no message ready")
		}
		select {
		case <-w.C():
			_ = w.Wait(ctx)
		case <-expire:
			expire = nil // look once more, then answer
		case <-ctx.Done():
			return nil, FromError(ctx.Err())
		case <-h.d.Stopping:
			return nil, result.Fail(result.CodeUnavailable, "server stopping")
		}
	}
}

// Ack implements StreamService.
func (h *StreamService) Ack(ctx context.Context, req *sp.StreamServiceAckRequest) (*sp.StreamServiceAckResponse, error) {
	var v Validator
	h.checkConsumerRef(&v, req.GetStream(), req.GetConsumer())
	v.Check(len(req.GetItems()) > 0, "items", "must not be empty")
	v.Check(len(req.GetItems()) <= maxBatchMsgs, "items", fmt.Sprintf("%d items, limit %d", len(req.GetItems()), maxBatchMsgs))
	for i, it := range req.GetItems() {
		v.Check(it.GetStreamSeq() > 0, fmt.Sprintf("items[%d].stream_seq", i), "must be positive")
		v.Check(sp.StreamAckKind_name[int32(it.GetKind())] != "", fmt.Sprintf("items[%d].kind", i), "unknown ack kind")
		v.Duration(fmt.Sprintf("items[%d].nak_delay_ms", i), it.GetNakDelayMs(), h.d.Limits.MaxDurationMs)
		v.MaxLen(fmt.Sprintf("items[%d].term_reason", i), len(it.GetTermReason()), h.d.Limits.MaxDescriptionLen)
	}
	return write[*sp.StreamServiceAckResponse](ctx, h.d, stream.Name, stream.OpAck, req, v.Result())
}

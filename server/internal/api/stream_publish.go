package api

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/stream"
)

// Publish implements StreamService.
func (h *StreamService) Publish(ctx context.Context, req *sp.StreamServicePublishRequest) (*sp.StreamServicePublishResponse, error) {
	var v Validator
	h.checkMessage(&v, "message", req.GetMessage())
	return write[*sp.StreamServicePublishResponse](ctx, h.d, stream.Name, stream.OpPublish, req, v.Result())
}

// publishValid proposes the valid messages of msgs as one command and
// answers one ack per message, in order; invalid ones carry their
// invalid_argument result. A failed proposal fails every valid message.
//
// fence, when set, is the fence of the whole batch (validated by the caller).
func (h *StreamService) publishValid(ctx context.Context, requestID string, fence fsm.Fence, msgs []*sp.StreamPublishMessage, field string) []*sp.StreamPubAck {
	acks := make([]*sp.StreamPubAck, len(msgs))
	valid, bad := msgs, false
	for i, m := range msgs {
		var r *commonpb.Result
		if m == nil {
			r = result.Invalid(fmt.Sprintf("%s[%d]", field, i), "is required")
		} else if r = h.messageProblem(m); r != nil {
			r = within(fmt.Sprintf("%s[%d]", field, i), r)
		}
		if r != nil {
			acks[i] = &sp.StreamPubAck{Result: r}
			bad = true
		}
	}
	if bad {
		valid = make([]*sp.StreamPublishMessage, 0, len(msgs))
		for i, m := range msgs {
			if acks[i] == nil {
				valid = append(valid, m)
			}
		}
	}
	if len(valid) == 0 {
		return acks
	}
	resp, r := h.proposeBatch(ctx, requestID, fence, valid)
	j := 0
	for i := range acks {
		if acks[i] != nil {
			continue
		}
		if r != nil {
			acks[i] = &sp.StreamPubAck{Result: r}
		} else {
			acks[i] = resp.GetAcks()[j]
		}
		j++
	}
	return acks
}

// proposeBatch proposes msgs as one OpPublishRaw command (cheaper to
// encode and apply than the proto form).
// A non-empty requestID proposes it at most once (see Propose).
func (h *StreamService) proposeBatch(ctx context.Context, requestID string, fence fsm.Fence, msgs []*sp.StreamPublishMessage) (*sp.StreamServicePublishBatchResponse, *commonpb.Result) {
	res, err := proposePayload(ctx, h.d.Node, stream.Name, stream.OpPublishRaw, requestID, fence, stream.EncodeBatch(msgs))
	if err != nil {
		return nil, FromError(err)
	}
	if refused, ok := res.(*commonpb.Result); ok && !refused.GetSuccess() {
		return nil, refused // the fence was refused: every message fails with it
	}
	resp, ok := res.(*sp.StreamServicePublishBatchResponse)
	if !ok || len(resp.GetAcks()) != len(msgs) {
		return nil, result.Failf(result.CodeInternal, "stream publish batch applied with a %T result", res)
	}
	return resp, nil
}

// PublishBatch implements StreamService.
func (h *StreamService) PublishBatch(ctx context.Context, req *sp.StreamServicePublishBatchRequest) (*sp.StreamServicePublishBatchResponse, error) {
	var v Validator
	msgs := req.GetMessages()
	v.Check(len(msgs) > 0, "messages", "must not be empty")
	v.Check(len(msgs) <= maxBatchMsgs, "messages", fmt.Sprintf("%d messages, limit %d", len(msgs), maxBatchMsgs))
	total := 0
	for _, m := range msgs {
		total += len(m.GetData())
	}
	v.Check(total <= maxBatchBytes, "messages", fmt.Sprintf("%d payload bytes, limit %d", total, maxBatchBytes))
	v.MaxLen("request_id", len(req.GetRequestId()), fsm.MaxRequestIDLen)
	v.Add(checkFence(req, "fence", h.d.Limits.MaxKeyLen))
	if r := v.Result(); r != nil {
		return &sp.StreamServicePublishBatchResponse{Result: r}, nil
	}
	acks := h.publishValid(ctx, req.GetRequestId(), FenceOf(req), msgs, "messages")
	if r := fencedAll(acks); r != nil {
		return &sp.StreamServicePublishBatchResponse{Result: r, Acks: acks}, nil
	}
	return &sp.StreamServicePublishBatchResponse{Result: result.OK(), Acks: acks}, nil
}

// fencedAll is the fenced Result when a batch's fence was refused (every
// ack carries it), so the batch as a whole answers "fenced", or nil.
func fencedAll(acks []*sp.StreamPubAck) *commonpb.Result {
	for _, a := range acks {
		if a.GetResult().GetResultCode() == result.CodeFenced {
			return a.GetResult()
		}
	}
	return nil
}

// pubReq is one PublishStream request within a proposed batch: its first
// publish id, how many messages it carried, and whether it is answered
// with one acks list (it carried more) or one plain ack.
type pubReq struct {
	id    uint64
	n     int
	multi bool
}

type pubBatch struct {
	reqs []pubReq
	acks []*sp.StreamPubAck
}

// streamOf is the stream of the first successful ack, which a compacted
// acks list leaves out.
func streamOf(acks []*sp.StreamPubAck) string {
	for _, a := range acks {
		if a.GetResult().GetSuccess() {
			return a.GetStream()
		}
	}
	return ""
}

// compactAcks strips what the acks list of a PublishStream response lets
// the client infer (see the proto): a success result, and a stream name
// equal to the first ack's, which goes in the response.
func compactAcks(acks []*sp.StreamPubAck) []*sp.StreamPubAck {
	out := make([]*sp.StreamPubAck, len(acks))
	store := make([]sp.StreamPubAck, len(acks))
	common := streamOf(acks)
	for i, a := range acks {
		c := &store[i]
		c.Seq, c.Duplicate = a.GetSeq(), a.GetDuplicate()
		if !a.GetResult().GetSuccess() {
			c.Result, c.Stream = a.GetResult(), a.GetStream()
		} else if a.GetStream() != common {
			c.Stream = a.GetStream()
		}
		out[i] = c
	}
	return out
}

// PublishStream implements StreamService: one goroutine receives into a
// buffer, this one proposes whatever has queued up as one raft command, and
// a third sends the acks, so receiving, applying and acking overlap.
func (h *StreamService) PublishStream(srv sp.StreamService_PublishStreamServer) error {
	ctx := srv.Context()
	in := make(chan *sp.StreamServicePublishStreamRequest, publishPipeline)
	go func() {
		defer close(in)
		for {
			req, err := srv.Recv()
			if err != nil {
				return
			}
			select {
			case in <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	out := make(chan pubBatch, 4)
	sendDone := make(chan error, 1)
	go func() {
		var err error
		for b := range out {
			if err != nil {
				continue // drain so the proposer never blocks
			}
			acks := b.acks
			for _, r := range b.reqs {
				mine := acks[:r.n]
				acks = acks[r.n:]
				var resp *sp.StreamServicePublishStreamResponse
				if r.multi {
					resp = &sp.StreamServicePublishStreamResponse{Result: result.OK(), PublishId: r.id, Stream: streamOf(mine), Acks: compactAcks(mine)}
				} else {
					a := mine[0]
					resp = &sp.StreamServicePublishStreamResponse{Result: a.GetResult(), PublishId: r.id, Stream: a.GetStream(), Seq: a.GetSeq(), Duplicate: a.GetDuplicate()}
				}
				if err = srv.Send(resp); err != nil {
					break
				}
			}
		}
		sendDone <- err
	}()
	err := h.pumpPublishes(ctx, in, out)
	close(out)
	if serr := <-sendDone; err == nil {
		err = serr
	}
	return err
}

func (h *StreamService) pumpPublishes(ctx context.Context, in <-chan *sp.StreamServicePublishStreamRequest, out chan<- pubBatch) error {
	msgs := make([]*sp.StreamPublishMessage, 0, publishBatchMax)
	var held *sp.StreamServicePublishStreamRequest // received, for the next batch
	for {
		first := held
		held = nil
		if first == nil {
			var ok bool
			select {
			case first, ok = <-in:
			case <-h.d.Stopping:
				return status.Error(codes.Unavailable, "server stopping")
			}
			if !ok {
				return nil
			}
		}
		var reqs []pubReq
		msgs = msgs[:0]
		bytes := 0
		// One command carries one fence, so a batch holds requests with
		// the same fence (usually none); a request with another one waits
		// for the next batch.
		fence := FenceOf(first)
		add := func(req *sp.StreamServicePublishStreamRequest) {
			msgs = append(msgs, req.GetMessage())
			bytes += len(req.GetMessage().GetData())
			for _, m := range req.GetMore() {
				msgs = append(msgs, m)
				bytes += len(m.GetData())
			}
			reqs = append(reqs, pubReq{id: req.GetPublishId(), n: 1 + len(req.GetMore()), multi: len(req.GetMore()) > 0})
		}
		if r := checkFence(first, "fence", h.d.Limits.MaxKeyLen); r != nil {
			n := 1 + len(first.GetMore())
			acks := make([]*sp.StreamPubAck, n)
			for i := range acks {
				acks[i] = &sp.StreamPubAck{Result: r}
			}
			out <- pubBatch{reqs: []pubReq{{id: first.GetPublishId(), n: n, multi: n > 1}}, acks: acks}
			continue
		}
		add(first)
	drain:
		for len(msgs) < publishBatchMax && bytes < publishBatchSize {
			select {
			case req, ok := <-in:
				if !ok {
					break drain
				}
				if FenceOf(req) != fence {
					held = req
					break drain
				}
				add(req)
			default:
				break drain
			}
		}
		acks := h.publishValid(ctx, "", fence, msgs, "message")
		out <- pubBatch{reqs: reqs, acks: acks}
		for _, a := range acks {
			if c := a.GetResult().GetResultCode(); c == result.CodeUnavailable || c == result.CodeNotLeader {
				// Make the client see a broken stream and resend by msg_id.
				return status.Error(codes.Unavailable, a.GetResult().GetMessage())
			}
		}
	}
}

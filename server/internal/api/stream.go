package api

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/stream"
)

// Stream request limits beyond Limits.
const (
	maxBatchMsgs     = 10_000
	maxBatchBytes    = 16 << 20
	maxFetchBatch    = 10_000
	maxPageSize      = 1000
	defaultPageSize  = 100
	consumeBatch     = 256             // messages per deliver command of a Consume stream
	publishPipeline  = 2048            // PublishStream messages buffered ahead of the proposer
	publishBatchMax  = 2048            // most messages per raft command of a PublishStream
	publishBatchSize = 4 << 20         // most payload bytes per raft command of a PublishStream
	streamIdleTouch  = 1 * time.Second // ceiling on how often a bound ephemeral is touched
)

// StreamService is the gRPC StreamService: it validates requests, proposes
// mutations (and deliveries) to the stream state machine through raft, reads
// state for queries, and waits on the machine's notifications for push and
// pull delivery.
type StreamService struct {
	sp.UnimplementedStreamServiceServer
	sm *stream.Machine
	n  *notify.Notifier[string]
	d  Deps
}

// NewStreamService returns the service over sm; n must be the notifier sm
// fires on every change of a stream.
func NewStreamService(sm *stream.Machine, n *notify.Notifier[string], d Deps) *StreamService {
	return &StreamService{sm: sm, n: n, d: d}
}

func (h *StreamService) checkName(v *Validator, field, s string) {
	if r := stream.CheckName(s, h.d.Limits.MaxNameLen); r != "" {
		v.Check(false, field, r)
	}
}

func (h *StreamService) checkSubject(v *Validator, field, s string, filter bool) {
	if r := stream.CheckSubject(s, filter); r != "" {
		v.Check(false, field, r)
		return
	}
	v.MaxLen(field, len(s), h.d.Limits.MaxSubjectLen)
}

// checkSubjects checks a list of filters, the count (MaxSubjectsPerStream)
// first so that an oversized list costs nothing more.
func (h *StreamService) checkSubjects(v *Validator, field string, subjects []string) {
	if n, max := len(subjects), h.d.Limits.MaxSubjectsPerStream; n > max {
		v.Check(false, field, fmt.Sprintf("has %d subjects, limit %d (MaxSubjectsPerStream)", n, max))
		return
	}
	for i, s := range subjects {
		h.checkSubject(v, fmt.Sprintf("%s[%d]", field, i), s, true)
	}
}

func (h *StreamService) checkStreamConfig(v *Validator, c *sp.StreamConfig) {
	if c == nil {
		v.Check(false, "config", "is required")
		return
	}
	h.checkName(v, "config.name", c.GetName())
	v.MaxLen("config.description", len(c.GetDescription()), h.d.Limits.MaxDescriptionLen)
	h.checkSubjects(v, "config.subjects", c.GetSubjects())
	v.Check(sp.StreamRetention_name[int32(c.GetRetention())] != "", "config.retention", "unknown retention policy")
	v.Check(sp.StreamDiscard_name[int32(c.GetDiscard())] != "", "config.discard", "unknown discard policy")
	v.NonNegative("config.max_msgs", c.GetMaxMsgs())
	v.NonNegative("config.max_bytes", c.GetMaxBytes())
	v.Duration("config.max_age_ms", c.GetMaxAgeMs(), h.d.Limits.MaxDurationMs)
	v.NonNegative("config.max_msg_size", c.GetMaxMsgSize())
	v.Check(c.GetMaxMsgSize() <= int64(h.d.Limits.MaxValueSize), "config.max_msg_size",
		fmt.Sprintf("%d exceeds the server's message limit %d", c.GetMaxMsgSize(), h.d.Limits.MaxValueSize))
	v.NonNegative("config.max_msgs_per_subject", c.GetMaxMsgsPerSubject())
	v.Duration("config.duplicate_window_ms", c.GetDuplicateWindowMs(), h.d.Limits.MaxDurationMs)
	v.NonNegative("config.max_consumers", int64(c.GetMaxConsumers()))
}

func (h *StreamService) checkMessage(v *Validator, field string, m *sp.StreamPublishMessage) {
	if f, rule := h.messageProblem(m); rule != "" {
		v.Check(false, field+f, rule)
	}
}

// messageProblem names the first invalid field of m (relative, e.g.
// ".subject") and its rule, or returns "" fields. It allocates nothing for a
// valid message: it runs once per published message.
func (h *StreamService) messageProblem(m *sp.StreamPublishMessage) (string, string) {
	if m == nil {
		return "", "is required"
	}
	if r := stream.CheckSubject(m.GetSubject(), false); r != "" {
		return ".subject", r
	}
	if n, max := len(m.GetSubject()), h.d.Limits.MaxSubjectLen; n > max {
		return ".subject", fmt.Sprintf("is %d bytes, limit %d", n, max)
	}
	if n, max := len(m.GetData()), h.d.Limits.MaxValueSize; n > max {
		return ".data", fmt.Sprintf("is %d bytes, limit %d", n, max)
	}
	if n, max := len(m.GetMsgId()), h.d.Limits.MaxKeyLen; n > max {
		return ".msg_id", fmt.Sprintf("is %d bytes, limit %d", n, max)
	}
	if n, max := len(m.GetExpectedLastMsgId()), h.d.Limits.MaxKeyLen; n > max {
		return ".expected_last_msg_id", fmt.Sprintf("is %d bytes, limit %d", n, max)
	}
	if f, r := HeadersProblem(m.GetHeaders(), h.d.Limits.MaxKeyLen, h.d.Limits.MaxHeaderBytes); r != "" {
		return ".headers" + f, r
	}
	if es := m.GetExpectedStream(); es != "" {
		if r := stream.CheckName(es, h.d.Limits.MaxNameLen); r != "" {
			return ".expected_stream", r
		}
	}
	return "", ""
}

func (h *StreamService) checkConsumerConfig(v *Validator, c *sp.ConsumerConfig, durableRequired bool) {
	if c == nil {
		v.Check(false, "config", "is required")
		return
	}
	if c.GetDurableName() != "" || durableRequired {
		h.checkName(v, "config.durable_name", c.GetDurableName())
	}
	v.MaxLen("config.description", len(c.GetDescription()), h.d.Limits.MaxDescriptionLen)
	dp := c.GetDeliverPolicy()
	v.Check(sp.ConsumerDeliverPolicy_name[int32(dp)] != "", "config.deliver_policy", "unknown deliver policy")
	v.Check(dp != sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_BY_START_SEQ || c.GetOptStartSeq() > 0,
		"config.opt_start_seq", "is required (> 0) with deliver_policy BY_START_SEQ")
	v.Check(dp == sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_BY_START_SEQ || c.GetOptStartSeq() == 0,
		"config.opt_start_seq", "is only allowed with deliver_policy BY_START_SEQ")
	v.Check(dp != sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_BY_START_TIME || c.GetOptStartAtMs() > 0,
		"config.opt_start_at_ms", "is required (> 0) with deliver_policy BY_START_TIME")
	v.Check(dp == sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_BY_START_TIME || c.GetOptStartAtMs() == 0,
		"config.opt_start_at_ms", "is only allowed with deliver_policy BY_START_TIME")
	v.Instant("config.opt_start_at_ms", c.GetOptStartAtMs())
	v.Check(sp.ConsumerAckPolicy_name[int32(c.GetAckPolicy())] != "", "config.ack_policy", "unknown ack policy")
	v.Duration("config.ack_wait_ms", c.GetAckWaitMs(), h.d.Limits.MaxDurationMs)
	v.NonNegative("config.max_deliver", int64(c.GetMaxDeliver()))
	for i, b := range c.GetBackoffMs() {
		v.Check(b > 0, fmt.Sprintf("config.backoff_ms[%d]", i), "must be positive")
		v.Duration(fmt.Sprintf("config.backoff_ms[%d]", i), b, h.d.Limits.MaxDurationMs)
	}
	h.checkSubjects(v, "config.filter_subjects", c.GetFilterSubjects())
	v.NonNegative("config.max_ack_pending", int64(c.GetMaxAckPending()))
	v.Duration("config.inactive_threshold_ms", c.GetInactiveThresholdMs(), h.d.Limits.MaxDurationMs)
}

// CreateStream implements StreamService.
func (h *StreamService) CreateStream(ctx context.Context, req *sp.StreamServiceCreateStreamRequest) (*sp.StreamServiceCreateStreamResponse, error) {
	var v Validator
	h.checkStreamConfig(&v, req.GetConfig())
	if r := v.Result(); r != nil {
		return &sp.StreamServiceCreateStreamResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServiceCreateStreamResponse](ctx, h.d.Node, stream.Name, stream.OpCreateStream, req)
	if r != nil {
		return &sp.StreamServiceCreateStreamResponse{Result: r}, nil
	}
	return resp, nil
}

// UpdateStream implements StreamService.
func (h *StreamService) UpdateStream(ctx context.Context, req *sp.StreamServiceUpdateStreamRequest) (*sp.StreamServiceUpdateStreamResponse, error) {
	var v Validator
	h.checkStreamConfig(&v, req.GetConfig())
	if r := v.Result(); r != nil {
		return &sp.StreamServiceUpdateStreamResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServiceUpdateStreamResponse](ctx, h.d.Node, stream.Name, stream.OpUpdateStream, req)
	if r != nil {
		return &sp.StreamServiceUpdateStreamResponse{Result: r}, nil
	}
	return resp, nil
}

// GetStream implements StreamService.
func (h *StreamService) GetStream(ctx context.Context, req *sp.StreamServiceGetStreamRequest) (*sp.StreamServiceGetStreamResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	if r := v.Result(); r != nil {
		return &sp.StreamServiceGetStreamResponse{Result: r}, nil
	}
	return h.sm.StreamInfo(req.GetStream()), nil
}

// DeleteStream implements StreamService.
func (h *StreamService) DeleteStream(ctx context.Context, req *sp.StreamServiceDeleteStreamRequest) (*sp.StreamServiceDeleteStreamResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	if r := v.Result(); r != nil {
		return &sp.StreamServiceDeleteStreamResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServiceDeleteStreamResponse](ctx, h.d.Node, stream.Name, stream.OpDeleteStream, req)
	if r != nil {
		return &sp.StreamServiceDeleteStreamResponse{Result: r}, nil
	}
	return resp, nil
}

func pageSize(field string, v *Validator, n int32) int {
	v.Check(n >= 0 && n <= maxPageSize, field, fmt.Sprintf("must be 0..%d", maxPageSize))
	if n == 0 {
		return defaultPageSize
	}
	return int(n)
}

// ListStreams implements StreamService.
func (h *StreamService) ListStreams(ctx context.Context, req *sp.StreamServiceListStreamsRequest) (*sp.StreamServiceListStreamsResponse, error) {
	var v Validator
	size := pageSize("page_size", &v, req.GetPageSize())
	after := v.PageToken("page_token", ScopeStreams, req.GetPageToken())
	if req.GetSubject() != "" {
		h.checkSubject(&v, "subject", req.GetSubject(), true)
	}
	if r := v.Result(); r != nil {
		return &sp.StreamServiceListStreamsResponse{Result: r}, nil
	}
	infos, next := h.sm.ListStreams(after, size, req.GetSubject())
	return &sp.StreamServiceListStreamsResponse{Result: OK(), Streams: infos, NextPageToken: NextPageToken(ScopeStreams, next)}, nil
}

// Publish implements StreamService.
func (h *StreamService) Publish(ctx context.Context, req *sp.StreamServicePublishRequest) (*sp.StreamServicePublishResponse, error) {
	var v Validator
	h.checkMessage(&v, "message", req.GetMessage())
	if r := v.Result(); r != nil {
		return &sp.StreamServicePublishResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServicePublishResponse](ctx, h.d.Node, stream.Name, stream.OpPublish, req)
	if r != nil {
		return &sp.StreamServicePublishResponse{Result: r}, nil
	}
	return resp, nil
}

// publishValid proposes the valid messages of msgs as one command and
// answers one ack per message, in order; invalid ones carry their
// invalid_argument result. A failed proposal fails every valid message.
func (h *StreamService) publishValid(ctx context.Context, requestID string, msgs []*sp.StreamPublishMessage, field string) []*sp.StreamPubAck {
	acks := make([]*sp.StreamPubAck, len(msgs))
	valid, bad := msgs, false
	for i, m := range msgs {
		if f, rule := h.messageProblem(m); rule != "" {
			acks[i] = &sp.StreamPubAck{Result: Invalid(fmt.Sprintf("%s[%d]%s", field, i, f), rule)}
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
	resp, r := h.proposeBatch(ctx, requestID, valid)
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
func (h *StreamService) proposeBatch(ctx context.Context, requestID string, msgs []*sp.StreamPublishMessage) (*sp.StreamServicePublishBatchResponse, *commonpb.Result) {
	var res any
	var err error
	if once, ok := h.d.Node.(OnceProposer); ok && requestID != "" {
		res, err = once.ProposeOnce(ctx, stream.Name, stream.OpPublishRaw, requestID, stream.EncodeBatch(msgs))
	} else {
		res, err = h.d.Node.Propose(ctx, stream.Name, stream.OpPublishRaw, stream.EncodeBatch(msgs))
	}
	if err != nil {
		return nil, FromError(err)
	}
	resp, ok := res.(*sp.StreamServicePublishBatchResponse)
	if !ok || len(resp.GetAcks()) != len(msgs) {
		return nil, Failf(CodeInternal, "stream publish batch applied with a %T result", res)
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
	if r := v.Result(); r != nil {
		return &sp.StreamServicePublishBatchResponse{Result: r}, nil
	}
	return &sp.StreamServicePublishBatchResponse{Result: OK(), Acks: h.publishValid(ctx, req.GetRequestId(), msgs, "messages")}, nil
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
					resp = &sp.StreamServicePublishStreamResponse{Result: OK(), PublishId: r.id, Stream: streamOf(mine), Acks: compactAcks(mine)}
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
	for {
		var first *sp.StreamServicePublishStreamRequest
		var ok bool
		select {
		case first, ok = <-in:
		case <-h.d.Stopping:
			return status.Error(codes.Unavailable, "server stopping")
		}
		if !ok {
			return nil
		}
		var reqs []pubReq
		msgs = msgs[:0]
		bytes := 0
		add := func(req *sp.StreamServicePublishStreamRequest) {
			msgs = append(msgs, req.GetMessage())
			bytes += len(req.GetMessage().GetData())
			for _, m := range req.GetMore() {
				msgs = append(msgs, m)
				bytes += len(m.GetData())
			}
			reqs = append(reqs, pubReq{id: req.GetPublishId(), n: 1 + len(req.GetMore()), multi: len(req.GetMore()) > 0})
		}
		add(first)
	drain:
		for len(msgs) < publishBatchMax && bytes < publishBatchSize {
			select {
			case req, ok := <-in:
				if !ok {
					break drain
				}
				add(req)
			default:
				break drain
			}
		}
		acks := h.publishValid(ctx, "", msgs, "message")
		out <- pubBatch{reqs: reqs, acks: acks}
		for _, a := range acks {
			if c := a.GetResult().GetResultCode(); c == CodeUnavailable || c == CodeNotLeader {
				// Make the client see a broken stream and resend by msg_id.
				return status.Error(codes.Unavailable, a.GetResult().GetMessage())
			}
		}
	}
}

// Purge implements StreamService.
func (h *StreamService) Purge(ctx context.Context, req *sp.StreamServicePurgeRequest) (*sp.StreamServicePurgeResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	if req.GetSubject() != "" {
		h.checkSubject(&v, "subject", req.GetSubject(), true)
	}
	v.Check(req.GetSeq() == 0 || req.GetKeep() == 0, "keep", "seq and keep are mutually exclusive")
	if r := v.Result(); r != nil {
		return &sp.StreamServicePurgeResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServicePurgeResponse](ctx, h.d.Node, stream.Name, stream.OpPurge, req)
	if r != nil {
		return &sp.StreamServicePurgeResponse{Result: r}, nil
	}
	return resp, nil
}

// GetMsg implements StreamService.
func (h *StreamService) GetMsg(ctx context.Context, req *sp.StreamServiceGetMsgRequest) (*sp.StreamServiceGetMsgResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	v.Check(req.GetSeq() > 0, "seq", "must be positive")
	if r := v.Result(); r != nil {
		return &sp.StreamServiceGetMsgResponse{Result: r}, nil
	}
	return h.sm.GetMsg(req.GetStream(), req.GetSeq()), nil
}

// GetLastMsgForSubject implements StreamService.
func (h *StreamService) GetLastMsgForSubject(ctx context.Context, req *sp.StreamServiceGetLastMsgForSubjectRequest) (*sp.StreamServiceGetLastMsgForSubjectResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	h.checkSubject(&v, "subject", req.GetSubject(), false)
	if r := v.Result(); r != nil {
		return &sp.StreamServiceGetLastMsgForSubjectResponse{Result: r}, nil
	}
	return h.sm.GetLastMsgForSubject(req.GetStream(), req.GetSubject()), nil
}

// DeleteMsg implements StreamService.
func (h *StreamService) DeleteMsg(ctx context.Context, req *sp.StreamServiceDeleteMsgRequest) (*sp.StreamServiceDeleteMsgResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	v.Check(req.GetSeq() > 0, "seq", "must be positive")
	if r := v.Result(); r != nil {
		return &sp.StreamServiceDeleteMsgResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServiceDeleteMsgResponse](ctx, h.d.Node, stream.Name, stream.OpDeleteMsg, req)
	if r != nil {
		return &sp.StreamServiceDeleteMsgResponse{Result: r}, nil
	}
	return resp, nil
}

// CreateConsumer implements StreamService.
func (h *StreamService) CreateConsumer(ctx context.Context, req *sp.StreamServiceCreateConsumerRequest) (*sp.StreamServiceCreateConsumerResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	h.checkConsumerConfig(&v, req.GetConfig(), false)
	if r := v.Result(); r != nil {
		return &sp.StreamServiceCreateConsumerResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServiceCreateConsumerResponse](ctx, h.d.Node, stream.Name, stream.OpCreateConsumer, req)
	if r != nil {
		return &sp.StreamServiceCreateConsumerResponse{Result: r}, nil
	}
	return resp, nil
}

// UpdateConsumer implements StreamService.
func (h *StreamService) UpdateConsumer(ctx context.Context, req *sp.StreamServiceUpdateConsumerRequest) (*sp.StreamServiceUpdateConsumerResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	h.checkConsumerConfig(&v, req.GetConfig(), true)
	if r := v.Result(); r != nil {
		return &sp.StreamServiceUpdateConsumerResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServiceUpdateConsumerResponse](ctx, h.d.Node, stream.Name, stream.OpUpdateConsumer, req)
	if r != nil {
		return &sp.StreamServiceUpdateConsumerResponse{Result: r}, nil
	}
	return resp, nil
}

func (h *StreamService) checkConsumerRef(v *Validator, streamName, consumer string) {
	h.checkName(v, "stream", streamName)
	h.checkName(v, "consumer", consumer)
}

// GetConsumer implements StreamService.
func (h *StreamService) GetConsumer(ctx context.Context, req *sp.StreamServiceGetConsumerRequest) (*sp.StreamServiceGetConsumerResponse, error) {
	var v Validator
	h.checkConsumerRef(&v, req.GetStream(), req.GetConsumer())
	if r := v.Result(); r != nil {
		return &sp.StreamServiceGetConsumerResponse{Result: r}, nil
	}
	return h.sm.ConsumerInfo(req.GetStream(), req.GetConsumer()), nil
}

// DeleteConsumer implements StreamService.
func (h *StreamService) DeleteConsumer(ctx context.Context, req *sp.StreamServiceDeleteConsumerRequest) (*sp.StreamServiceDeleteConsumerResponse, error) {
	var v Validator
	h.checkConsumerRef(&v, req.GetStream(), req.GetConsumer())
	if r := v.Result(); r != nil {
		return &sp.StreamServiceDeleteConsumerResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServiceDeleteConsumerResponse](ctx, h.d.Node, stream.Name, stream.OpDeleteConsumer, req)
	if r != nil {
		return &sp.StreamServiceDeleteConsumerResponse{Result: r}, nil
	}
	return resp, nil
}

// ListConsumers implements StreamService.
func (h *StreamService) ListConsumers(ctx context.Context, req *sp.StreamServiceListConsumersRequest) (*sp.StreamServiceListConsumersResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	size := pageSize("page_size", &v, req.GetPageSize())
	after := v.PageToken("page_token", ScopeConsumers(req.GetStream()), req.GetPageToken())
	if r := v.Result(); r != nil {
		return &sp.StreamServiceListConsumersResponse{Result: r}, nil
	}
	infos, next, ok := h.sm.ListConsumers(req.GetStream(), after, size)
	if !ok {
		return &sp.StreamServiceListConsumersResponse{Result: Failf(CodeNotFound, "stream: %q not found", req.GetStream())}, nil
	}
	return &sp.StreamServiceListConsumersResponse{Result: OK(), Consumers: infos, NextPageToken: NextPageToken(ScopeConsumers(req.GetStream()), next)}, nil
}

// Consume implements StreamService: push delivery. Whenever the consumer
// has work it proposes a deliver command and streams what it answers;
// otherwise it waits for the stream's notification.
func (h *StreamService) Consume(req *sp.StreamServiceConsumeRequest, srv sp.StreamService_ConsumeServer) error {
	var v Validator
	h.checkConsumerRef(&v, req.GetStream(), req.GetConsumer())
	v.Duration("idle_heartbeat_ms", req.GetIdleHeartbeatMs(), h.d.Limits.MaxDurationMs)
	if r := v.Result(); r != nil {
		return srv.Send(&sp.StreamServiceConsumeResponse{Result: r})
	}
	ctx := srv.Context()
	w := h.n.Watch(req.GetStream())
	defer w.Stop()

	// A bound ephemeral consumer is kept alive by touching it.
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
	deliver := &sp.StreamServiceFetchRequest{Stream: req.GetStream(), Consumer: req.GetConsumer(), Batch: consumeBatch}
	for {
		exists, work := h.sm.Work(req.GetStream(), req.GetConsumer())
		if !exists {
			return srv.Send(&sp.StreamServiceConsumeResponse{Result: Failf(CodeNotFound, "consumer: %q not found on stream %q", req.GetConsumer(), req.GetStream())})
		}
		if work {
			resp, r := Propose[*sp.StreamServiceFetchResponse](ctx, h.d.Node, stream.Name, stream.OpDeliver, deliver)
			if r == nil {
				r = resp.GetResult()
			}
			switch {
			case r.GetSuccess():
				for _, m := range resp.GetMsgs() {
					if err := srv.Send(&sp.StreamServiceConsumeResponse{Result: OK(), Msg: m}); err != nil {
						return err
					}
				}
				if hbTimer != nil {
					hbTimer.Reset(time.Duration(req.GetIdleHeartbeatMs()) * time.Millisecond)
				}
				continue
			case r.GetResultCode() == CodeExpired:
				// Another stream of the consumer took it first; wait.
			case r.GetResultCode() == CodeUnavailable || r.GetResultCode() == CodeNotLeader:
				return status.Error(codes.Unavailable, r.GetMessage())
			default:
				return srv.Send(&sp.StreamServiceConsumeResponse{Result: r})
			}
		}
		select {
		case <-w.C():
			_ = w.Wait(ctx)
		case <-ctx.Done():
			return nil
		case <-h.d.Stopping:
			return status.Error(codes.Unavailable, "server stopping")
		case <-touch:
			_, _ = Propose[*sp.StreamServiceGetConsumerResponse](ctx, h.d.Node, stream.Name, stream.OpTouch,
				&sp.StreamServiceGetConsumerRequest{Stream: req.GetStream(), Consumer: req.GetConsumer()})
		case <-hb:
			if err := srv.Send(&sp.StreamServiceConsumeResponse{Result: OK(), Heartbeat: true}); err != nil {
				return err
			}
			hbTimer.Reset(time.Duration(req.GetIdleHeartbeatMs()) * time.Millisecond)
		}
	}
}

// Fetch implements StreamService: pull delivery with a bounded wait.
func (h *StreamService) Fetch(ctx context.Context, req *sp.StreamServiceFetchRequest) (*sp.StreamServiceFetchResponse, error) {
	var v Validator
	h.checkConsumerRef(&v, req.GetStream(), req.GetConsumer())
	v.Check(req.GetBatch() >= 0 && req.GetBatch() <= maxFetchBatch, "batch", fmt.Sprintf("must be 0..%d", maxFetchBatch))
	v.Duration("max_wait_ms", req.GetMaxWaitMs(), h.d.Limits.MaxDurationMs)
	v.NonNegative("max_bytes", req.GetMaxBytes())
	if r := v.Result(); r != nil {
		return &sp.StreamServiceFetchResponse{Result: r}, nil
	}
	w := h.n.Watch(req.GetStream())
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
			return &sp.StreamServiceFetchResponse{Result: Failf(CodeNotFound, "consumer: %q not found on stream %q", req.GetConsumer(), req.GetStream())}, nil
		}
		if work {
			resp, r := Propose[*sp.StreamServiceFetchResponse](ctx, h.d.Node, stream.Name, stream.OpDeliver, req)
			if r != nil {
				return &sp.StreamServiceFetchResponse{Result: r}, nil
			}
			if resp.GetResult().GetResultCode() != CodeExpired {
				return resp, nil
			}
		}
		if expire == nil {
			return &sp.StreamServiceFetchResponse{Result: Fail(CodeExpired, "no message ready")}, nil
		}
		select {
		case <-w.C():
			_ = w.Wait(ctx)
		case <-expire:
			expire = nil // look once more, then answer
		case <-ctx.Done():
			return &sp.StreamServiceFetchResponse{Result: FromError(ctx.Err())}, nil
		case <-h.d.Stopping:
			return &sp.StreamServiceFetchResponse{Result: Fail(CodeUnavailable, "server stopping")}, nil
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
	if r := v.Result(); r != nil {
		return &sp.StreamServiceAckResponse{Result: r}, nil
	}
	resp, r := Propose[*sp.StreamServiceAckResponse](ctx, h.d.Node, stream.Name, stream.OpAck, req)
	if r != nil {
		return &sp.StreamServiceAckResponse{Result: r}, nil
	}
	return resp, nil
}

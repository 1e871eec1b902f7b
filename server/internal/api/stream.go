package api

import (
	"context"
	"fmt"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/stream"
)

// Stream request limits beyond Limits.
const (
	maxBatchMsgs     = 10_000
	maxBatchBytes    = 16 << 20
	maxFetchBatch    = 10_000
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
	d  Deps
}

// NewStreamService returns the service over sm.
func NewStreamService(sm *stream.Machine, d Deps) *StreamService {
	return &StreamService{sm: sm, d: d}
}

func (h *StreamService) checkName(v *Validator, field, s string) {
	v.Name(field, s, h.d.Limits.MaxNameLen)
}

func (h *StreamService) checkSubject(v *Validator, field, s string, filter bool) {
	if r := stream.CheckSubject(field, s, filter); r != nil {
		v.Add(r)
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
	v.Check(m != nil, field, "is required")
	if v.Result() == nil {
		v.Add(within(field, h.messageProblem(m)))
	}
}

// messageProblem checks a message to publish: the invalid_argument Result
// naming its field (relative: "subject", "headers[1].key", ...), or nil.
// It allocates nothing for a valid message: it runs once per published
// message.
func (h *StreamService) messageProblem(m *sp.StreamPublishMessage) *commonpb.Result {
	l := h.d.Limits
	if r := stream.CheckSubject("subject", m.GetSubject(), false); r != nil {
		return r
	}
	if n := len(m.GetSubject()); n > l.MaxSubjectLen {
		return result.Invalidf("subject", "is %d bytes, limit %d", n, l.MaxSubjectLen)
	}
	if n := len(m.GetData()); n > l.MaxValueSize {
		return result.Invalidf("data", "is %d bytes, limit %d", n, l.MaxValueSize)
	}
	if n := len(m.GetMsgId()); n > l.MaxKeyLen {
		return result.Invalidf("msg_id", "is %d bytes, limit %d", n, l.MaxKeyLen)
	}
	if n := len(m.GetExpectedLastMsgId()); n > l.MaxKeyLen {
		return result.Invalidf("expected_last_msg_id", "is %d bytes, limit %d", n, l.MaxKeyLen)
	}
	if r := CheckHeaders("headers", m.GetHeaders(), l.MaxKeyLen, l.MaxHeaderBytes); r != nil {
		return r
	}
	if es := m.GetExpectedStream(); es != "" {
		return result.CheckName("expected_stream", es, l.MaxNameLen)
	}
	return nil
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
	return write[*sp.StreamServiceCreateStreamResponse](ctx, h.d, stream.Name, stream.OpCreateStream, req, v.Result())
}

// UpdateStream implements StreamService.
func (h *StreamService) UpdateStream(ctx context.Context, req *sp.StreamServiceUpdateStreamRequest) (*sp.StreamServiceUpdateStreamResponse, error) {
	var v Validator
	h.checkStreamConfig(&v, req.GetConfig())
	return write[*sp.StreamServiceUpdateStreamResponse](ctx, h.d, stream.Name, stream.OpUpdateStream, req, v.Result())
}

// GetStream implements StreamService.
func (h *StreamService) GetStream(ctx context.Context, req *sp.StreamServiceGetStreamRequest) (*sp.StreamServiceGetStreamResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	return read(ctx, h.d, v.Result(), func() *sp.StreamServiceGetStreamResponse { return h.sm.StreamInfo(req.GetStream()) })
}

// DeleteStream implements StreamService.
func (h *StreamService) DeleteStream(ctx context.Context, req *sp.StreamServiceDeleteStreamRequest) (*sp.StreamServiceDeleteStreamResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	return write[*sp.StreamServiceDeleteStreamResponse](ctx, h.d, stream.Name, stream.OpDeleteStream, req, v.Result())
}

// ListStreams implements StreamService.
func (h *StreamService) ListStreams(ctx context.Context, req *sp.StreamServiceListStreamsRequest) (*sp.StreamServiceListStreamsResponse, error) {
	var v Validator
	size := v.PageSize("page_size", req.GetPageSize(), defaultPageSize, maxPageSize)
	after := v.PageToken("page_token", ScopeStreams, req.GetPageToken())
	if req.GetSubject() != "" {
		h.checkSubject(&v, "subject", req.GetSubject(), true)
	}
	return read(ctx, h.d, v.Result(), func() *sp.StreamServiceListStreamsResponse {
		infos, next := h.sm.ListStreams(after, size, req.GetSubject())
		return &sp.StreamServiceListStreamsResponse{Result: result.OK(), Streams: infos, NextPageToken: NextPageToken(ScopeStreams, next)}
	})
}

// Purge implements StreamService.
func (h *StreamService) Purge(ctx context.Context, req *sp.StreamServicePurgeRequest) (*sp.StreamServicePurgeResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	if req.GetSubject() != "" {
		h.checkSubject(&v, "subject", req.GetSubject(), true)
	}
	v.Check(req.GetSeq() == 0 || req.GetKeep() == 0, "keep", "seq and keep are mutually exclusive")
	return write[*sp.StreamServicePurgeResponse](ctx, h.d, stream.Name, stream.OpPurge, req, v.Result())
}

// GetMsg implements StreamService.
func (h *StreamService) GetMsg(ctx context.Context, req *sp.StreamServiceGetMsgRequest) (*sp.StreamServiceGetMsgResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	v.Check(req.GetSeq() > 0, "seq", "must be positive")
	return read(ctx, h.d, v.Result(), func() *sp.StreamServiceGetMsgResponse { return h.sm.GetMsg(req.GetStream(), req.GetSeq()) })
}

// GetLastMsgForSubject implements StreamService.
func (h *StreamService) GetLastMsgForSubject(ctx context.Context, req *sp.StreamServiceGetLastMsgForSubjectRequest) (*sp.StreamServiceGetLastMsgForSubjectResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	h.checkSubject(&v, "subject", req.GetSubject(), false)
	return read(ctx, h.d, v.Result(), func() *sp.StreamServiceGetLastMsgForSubjectResponse {
		return h.sm.GetLastMsgForSubject(req.GetStream(), req.GetSubject())
	})
}

// DeleteMsg implements StreamService.
func (h *StreamService) DeleteMsg(ctx context.Context, req *sp.StreamServiceDeleteMsgRequest) (*sp.StreamServiceDeleteMsgResponse, error) {
	var v Validator
	h.checkName(&v, "stream", req.GetStream())
	v.Check(req.GetSeq() > 0, "seq", "must be positive")
	return write[*sp.StreamServiceDeleteMsgResponse](ctx, h.d, stream.Name, stream.OpDeleteMsg, req, v.Result())
}

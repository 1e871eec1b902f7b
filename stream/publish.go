package stream

import (
	"context"
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// PubAck acknowledges a stored message.
type PubAck struct {
	// Stream that stored the message.
	Stream string
	// Sequence is its stream sequence (the original one when Duplicate).
	Sequence uint64
	// Duplicate is true when the msg id was seen inside the stream's
	// DuplicateWindow: nothing new was stored.
	Duplicate bool
}

// message builds one message and its fence (nil: none) from a publish's
// arguments.
func (s *Stream) message(field, subject string, data []byte, opts []PublishOption) (*streampb.StreamPublishMessage, *commonpb.Fence, error) {
	if err := checkSubject(field, subject, false); err != nil {
		return nil, nil, err
	}
	m := &streampb.StreamPublishMessage{Subject: subject, Data: data, ExpectedStream: s.name}
	if len(opts) == 0 {
		return m, nil, nil // no options struct to allocate on the common path
	}
	o := new(publishOptions)
	for _, opt := range opts {
		if opt != nil {
			opt.applyPublish(o)
		}
	}
	m.MsgId, m.ExpectedLastSeq, m.ExpectedLastSubjectSeq, m.ExpectedLastMsgId = o.msgID, o.lastSeq, o.lastSubjectSeq, o.lastMsgID
	if o.headers != nil {
		m.Headers = o.headers.proto()
	}
	for _, h := range m.Headers {
		if h.GetKey() == "" {
			return nil, nil, transport.Invalid("Headers", "a header name must not be empty")
		}
	}
	fence, err := fencePB(o.fence)
	if err != nil {
		return nil, nil, err
	}
	return m, fence, nil
}

// fencePB validates the fence of a call, if any, and gives its wire form.
func fencePB(f *transport.Fence) (*commonpb.Fence, error) {
	if f == nil {
		return nil, nil
	}
	if err := transport.CheckFence("fence", *f); err != nil {
		return nil, err
	}
	return transport.FencePB(*f), nil
}

// Publish stores one message on subject, which this stream must bind, and
// waits for its ack. It carries a request id, so it is retried through
// lost replies and server restarts and stored once, answering the first
// ack; WithMsgID is the deduplication of your own retries on top (a
// second Publish with a seen msg id answers Duplicate).
func (s *Stream) Publish(ctx context.Context, subject string, data []byte, opts ...PublishOption) (PubAck, error) {
	m, fence, err := s.message("subject", subject, data, opts)
	if err != nil {
		return PubAck{}, err
	}
	req := &streampb.StreamServicePublishRequest{RequestId: transport.NewRequestID(), Message: m, Fence: fence}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServicePublishResponse, error) {
		return s.c.rpc.Publish(ctx, req)
	})
	if err != nil {
		return PubAck{}, err
	}
	return PubAck{Stream: resp.GetStream(), Sequence: resp.GetSeq(), Duplicate: resp.GetDuplicate()}, nil
}

// Message is one message of a batch publish.
type Message struct {
	Subject string
	Data    []byte
	Headers Header
	// MsgID deduplicates the message within the stream's DuplicateWindow.
	MsgID string
}

// BatchAck is the outcome of one message of a batch.
type BatchAck struct {
	PubAck
	// Err is this message's failure (Kind "server"), or nil.
	Err error
}

// PublishBatch stores many messages in one round trip: at most 10,000, in a
// request of at most transport.MaxMessageSize (16 MiB, the server's default
// Limits.MaxMessageSize) with payloads, subjects, headers and ids together.
// A larger batch is refused before anything is sent, with a KindInvalid
// error naming the limit. Messages are applied in order; each succeeds or fails
// on its own, reported in its BatchAck. The error is for the call as a
// whole. The batch carries a request id, so a retry after a lost reply
// stores nothing twice and answers the first acks.
//
// With WithFence the whole batch is conditional on the lock: a refused
// fence stores none of it and the call fails with ErrFenced.
func (s *Stream) PublishBatch(ctx context.Context, msgs []Message, opts ...BatchOption) ([]BatchAck, error) {
	if len(msgs) == 0 {
		return nil, transport.Invalid("msgs", "must not be empty")
	}
	if len(msgs) > 10_000 {
		return nil, transport.Invalid("msgs", "%d messages, limit 10000", len(msgs))
	}
	var bo batchOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyBatch(&bo)
		}
	}
	fence, err := fencePB(bo.fence)
	if err != nil {
		return nil, err
	}
	pm := make([]*streampb.StreamPublishMessage, len(msgs))
	store := make([]streampb.StreamPublishMessage, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if err := checkSubject("Subject", m.Subject, false); err != nil {
			// Name the message only on failure: formatting the field for
			// every message cost a batch of 100 about a tenth of its time.
			e := err.(*transport.Error)
			e.Message = fmt.Sprintf("msgs[%d].%s", i, e.Message)
			return nil, e
		}
		p := &store[i]
		p.Subject, p.Data, p.Headers, p.MsgId, p.ExpectedStream = m.Subject, m.Data, m.Headers.proto(), m.MsgID, s.name
		pm[i] = p
	}
	req := &streampb.StreamServicePublishBatchRequest{RequestId: transport.NewRequestID(), Messages: pm, Fence: fence}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServicePublishBatchResponse, error) {
		return s.c.rpc.PublishBatch(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	out := make([]BatchAck, len(msgs))
	for i, a := range resp.GetAcks() {
		if i >= len(out) {
			break
		}
		out[i] = BatchAck{PubAck: PubAck{Stream: a.GetStream(), Sequence: a.GetSeq(), Duplicate: a.GetDuplicate()}, Err: transport.ServerError(a.GetResult())}
	}
	return out, nil
}

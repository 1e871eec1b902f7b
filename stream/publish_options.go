package stream

import "git.awesomike.com/pub/waymaker-client/go/transport"

// Per-call options follow one idiom across the SDK: a call's options are an
// interface with one unexported method (PublishOption: applyPublish), so an
// option valid on several calls is one value whose type has each call's
// method.

// PublishOption sets an option of one published message, for Publish and
// PublishAsync.
type PublishOption interface{ applyPublish(*publishOptions) }

type publishOptions struct {
	fence                   *transport.Fence
	msgID                   string
	lastSeq, lastSubjectSeq *uint64
	lastMsgID               *string
	headers                 Header
}

type publishFunc func(*publishOptions)

func (f publishFunc) applyPublish(o *publishOptions) { f(o) }

// WithMsgID sets the message id: a second publish with the same id inside
// the stream's DuplicateWindow stores nothing and answers the original ack
// with Duplicate set. It also makes the publish safe to retry.
func WithMsgID(id string) PublishOption {
	return publishFunc(func(o *publishOptions) { o.msgID = id })
}

// WithExpectLastSeq makes the publish fail with ErrWrongSequence unless the
// stream's last sequence is seq (0: the stream never stored a message).
func WithExpectLastSeq(seq uint64) PublishOption {
	return publishFunc(func(o *publishOptions) { o.lastSeq = &seq })
}

// WithExpectLastSeqPerSubject makes the publish fail with ErrWrongSequence
// unless the last sequence stored on the subject is seq (0: none).
func WithExpectLastSeqPerSubject(seq uint64) PublishOption {
	return publishFunc(func(o *publishOptions) { o.lastSubjectSeq = &seq })
}

// WithExpectLastMsgID makes the publish fail with ErrWrongSequence unless
// the stream's last message was published with msg id id.
func WithExpectLastMsgID(id string) PublishOption {
	return publishFunc(func(o *publishOptions) { o.lastMsgID = &id })
}

// WithHeaders stores headers with the message.
func WithHeaders(h Header) PublishOption {
	return publishFunc(func(o *publishOptions) { o.headers = h })
}

// BatchOption sets an option of PublishBatch.
type BatchOption interface{ applyBatch(*batchOptions) }

type batchOptions struct{ fence *transport.Fence }

// FenceOption is WithFence's option, valid on Publish, PublishAsync and
// PublishBatch.
type FenceOption struct{ f transport.Fence }

func (o FenceOption) applyPublish(p *publishOptions) { p.fence = &o.f }
func (o FenceOption) applyBatch(b *batchOptions)     { b.fence = &o.f }

// WithFence makes a publish (or a whole batch) conditional on a held lock:
// the server stores it only while f's lock is held with f's token, and
// otherwise stores nothing and answers ErrFenced (the message gives the
// current token). A refusal is definite and never retried.
//
//	ack, err := s.Publish(ctx, "jobs.done", data, stream.WithFence(l.Fence()))
func WithFence(f transport.Fence) FenceOption { return FenceOption{f} }

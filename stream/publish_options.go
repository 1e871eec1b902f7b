package stream

// Per-call options follow one idiom across the SDK: a call's options are an
// interface with one unexported method (PublishOption: applyPublish), so an
// option valid on several calls is one value whose type has each call's
// method.

// PublishOption sets an option of one published message, for Publish and
// PublishAsync.
type PublishOption interface{ applyPublish(*publishOptions) }

type publishOptions struct {
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

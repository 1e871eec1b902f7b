package collections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"iter"
	"time"
	"unicode/utf8"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Queue is a reliable queue with SQS semantics. Pop hands out the oldest
// ready message with a receipt and hides it for the visibility timeout;
// Ack deletes it. A message not acked in time becomes visible again (its old
// receipt then fails with ErrNotOwner) and is delivered again: delivery is
// at least once. Ready messages come out in push order (FIFO). Handles are
// cheap and safe for concurrent use.
type Queue struct {
	c     *Client
	name  string
	fence fence // WithFence's, for Push and Ack
}

func (c *Client) queue(name string) *Queue { return &Queue{c: c, name: name} }

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// Info answers the queue's configuration and status.
func (q *Queue) Info(ctx context.Context) (StoreInfo, error) {
	return q.c.info(ctx, q.name, KindQueue)
}

// Message is a popped (or peeked) message.
type Message struct {
	// ID is the message id given with WithID, or the one the SDK made.
	ID      string
	Payload []byte
	// Receipt names this pop in Ack, Nack and ExtendVisibility; empty on
	// Peek.
	Receipt string
	// ReceiveCount is how many times the message was popped, this pop
	// included.
	ReceiveCount int
	PushedAt     time.Time
	// InvisibleUntil is when the message becomes visible again unless acked
	// (zero on Peek).
	InvisibleUntil time.Time
	Attributes     map[string]string

	q *Queue
}

// Ack deletes the message (see Queue.Ack).
func (m *Message) Ack(ctx context.Context) error { return m.q.Ack(ctx, m.Receipt) }

// Nack returns the message to the queue after delay (see Queue.Nack).
func (m *Message) Nack(ctx context.Context, delay time.Duration) error {
	return m.q.Nack(ctx, m.Receipt, delay)
}

// ExtendVisibility hides the message for d from now (see
// Queue.ExtendVisibility) and updates InvisibleUntil.
func (m *Message) ExtendVisibility(ctx context.Context, d time.Duration) error {
	until, err := m.q.ExtendVisibility(ctx, m.Receipt, d)
	if err == nil {
		m.InvisibleUntil = until
	}
	return err
}

func (q *Queue) message(p *pb.QueueMessage) *Message {
	return &Message{
		ID: p.GetId(), Payload: p.GetPayload(), Receipt: p.GetReceipt(), ReceiveCount: int(p.GetReceiveCount()),
		PushedAt: atMs(p.GetPushedAtMs()), InvisibleUntil: atMs(p.GetInvisibleUntilAtMs()), Attributes: p.GetAttributes(), q: q,
	}
}

// PushResult is the outcome of a push.
type PushResult struct {
	// ID is the message id.
	ID string
	// Duplicate is true when the id was pushed before within the dedupe
	// window, so nothing was stored this time.
	Duplicate bool
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Push adds a message. Options set its id (for deduplication), its delay
// and attributes. Push is safe to retry: it always carries an id.
func (q *Queue) Push(ctx context.Context, payload []byte, opts ...PushOption) (PushResult, error) {
	var o pushOptions
	for _, opt := range opts {
		opt.applyPush(&o)
	}
	if o.id == "" {
		o.id = newID()
	} else if !utf8.ValidString(o.id) {
		return PushResult{}, transport.Invalid("WithID", "the id must be valid UTF-8")
	}
	fc := callFence(q.fence, o.fence)
	if err := fc.err; err != nil {
		return PushResult{}, err
	}
	req := &pb.CollectionsServiceQueuePushRequest{RequestId: transport.NewRequestID(), Queue: q.name, Payload: payload, Id: o.id, Attributes: o.attrs, Fence: fc.pb}
	if o.delay != nil {
		if err := checkDuration("WithDelay", *o.delay); err != nil {
			return PushResult{}, err
		}
		d := ms(*o.delay)
		req.DelayMs = &d
	}
	for k, v := range o.attrs {
		if k == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return PushResult{}, transport.Invalid("WithAttributes", "names must be non-empty and names and values valid UTF-8")
		}
	}
	resp, err := transport.Call(ctx, q.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceQueuePushResponse, error) {
		return q.c.rpc.QueuePush(ctx, req)
	})
	if err != nil {
		return PushResult{}, err
	}
	return PushResult{ID: resp.GetId(), Duplicate: resp.GetDuplicate()}, nil
}

// Pop hands out the oldest ready message with a receipt, hiding it for the
// visibility timeout. When none is ready it waits up to wait for one (a push
// wakes it at once); when none came in time it fails with ErrExpired. A wait
// of 0 answers at once. Pop carries a request id, so a retry after an
// unknown outcome (a lost reply, a leader change) is answered with the
// first pop's messages instead of popping again; past the server's window
// of request ids, a lost reply leaves the message hidden until its
// visibility timeout, after which it is delivered again.
func (q *Queue) Pop(ctx context.Context, wait time.Duration, opts ...PopOption) (*Message, error) {
	msgs, err := q.PopBatch(ctx, wait, 1, opts...)
	if err != nil {
		return nil, err
	}
	return msgs[0], nil
}

// PopBatch is Pop for up to max messages (at most 1000): it answers as soon
// as one is ready, with every ready one up to max, in FIFO order.
func (q *Queue) PopBatch(ctx context.Context, wait time.Duration, max int, opts ...PopOption) ([]*Message, error) {
	if err := checkDuration("wait", wait); err != nil {
		return nil, err
	}
	if max < 1 || max > 1000 {
		return nil, transport.Invalid("max", "must be in [1, 1000], got %d", max)
	}
	var o popOptions
	for _, opt := range opts {
		opt.applyPop(&o)
	}
	req := &pb.CollectionsServiceQueuePopRequest{RequestId: transport.NewRequestID(), Queue: q.name, WaitMs: ms(wait), MaxMessages: int32(max)}
	if o.visibility != nil {
		if *o.visibility <= 0 {
			return nil, transport.Invalid("WithVisibilityTimeout", "must be positive, got %v", *o.visibility)
		}
		v := ms(*o.visibility)
		req.VisibilityTimeoutMs = &v
	}
	resp, err := transport.Call(ctx, q.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceQueuePopResponse, error) {
		return q.c.rpc.QueuePop(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Message, len(resp.GetMessages()))
	for i, m := range resp.GetMessages() {
		out[i] = q.message(m)
	}
	if len(out) == 0 {
		return nil, &transport.Error{Kind: transport.KindServer, Code: transport.CodeExpired, Message: "no message"}
	}
	return out, nil
}

// Consume iterates over messages as they are pushed: it pops with long
// waits of up to wait each (0 takes 20s), skipping the empty ones, until
// ctx ends (yielding its error) or a pop fails. The caller acks or nacks
// each message; one it does neither to comes back after the visibility
// timeout.
//
//	for msg, err := range q.Consume(ctx, 0) {
//		if err != nil {
//			return err
//		}
//		process(msg.Payload)
//		_ = msg.Ack(ctx)
//	}
func (q *Queue) Consume(ctx context.Context, wait time.Duration, opts ...PopOption) iter.Seq2[*Message, error] {
	if wait == 0 {
		wait = 20 * time.Second
	}
	return func(yield func(*Message, error) bool) {
		for {
			msgs, err := q.PopBatch(ctx, wait, 1, opts...)
			if err != nil && ctxEnded(ctx) {
				cause := ctx.Err()
				if cause == nil {
					cause = context.DeadlineExceeded
				}
				yield(nil, transport.MapError(ctx, cause))
				return
			}
			if errors.Is(err, transport.ErrExpired) {
				continue
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(msgs[0], nil) {
				return
			}
		}
	}
}

// ctxEnded reports whether ctx is done or past its deadline: near the
// deadline, the server or gRPC may report the end before ctx itself does.
func ctxEnded(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func checkReceipt(receipt string) error {
	if receipt == "" {
		return transport.Invalid("receipt", "must not be empty")
	}
	if !utf8.ValidString(receipt) {
		return transport.Invalid("receipt", "must be valid UTF-8")
	}
	return nil
}

// Ack deletes a popped message. A receipt that is no longer current (the
// message became visible again, was popped again, or was acked) fails with
// ErrNotOwner: another consumer may be processing the message. WithFence
// makes it conditional on a held lock.
func (q *Queue) Ack(ctx context.Context, receipt string, opts ...AckOption) error {
	if err := checkReceipt(receipt); err != nil {
		return err
	}
	var o ackOptions
	for _, opt := range opts {
		opt.applyAck(&o)
	}
	fc := callFence(q.fence, o.fence)
	if err := fc.err; err != nil {
		return err
	}
	req := &pb.CollectionsServiceQueueAckRequest{RequestId: transport.NewRequestID(), Queue: q.name, Receipt: receipt, Fence: fc.pb}
	_, err := transport.Call(ctx, q.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceQueueAckResponse, error) {
		return q.c.rpc.QueueAck(ctx, req)
	})
	return err
}

// Nack returns a popped message to the queue: ready again after delay (0:
// at once, at its FIFO place). A message that has used its MaxReceiveCount
// goes to the dead-letter queue instead. A stale receipt is ErrNotOwner.
func (q *Queue) Nack(ctx context.Context, receipt string, delay time.Duration) error {
	if err := checkReceipt(receipt); err != nil {
		return err
	}
	if err := checkDuration("delay", delay); err != nil {
		return err
	}
	req := &pb.CollectionsServiceQueueNackRequest{RequestId: transport.NewRequestID(), Queue: q.name, Receipt: receipt, DelayMs: ms(delay)}
	_, err := transport.Call(ctx, q.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceQueueNackResponse, error) {
		return q.c.rpc.QueueNack(ctx, req)
	})
	return err
}

// ExtendVisibility hides a popped message for d from now (which may shorten
// as well as lengthen its invisibility) and answers the new end. A stale
// receipt is ErrNotOwner.
func (q *Queue) ExtendVisibility(ctx context.Context, receipt string, d time.Duration) (time.Time, error) {
	if err := checkReceipt(receipt); err != nil {
		return time.Time{}, err
	}
	if d <= 0 {
		return time.Time{}, transport.Invalid("d", "must be positive, got %v", d)
	}
	req := &pb.CollectionsServiceQueueExtendVisibilityRequest{RequestId: transport.NewRequestID(), Queue: q.name, Receipt: receipt, VisibilityTimeoutMs: ms(d)}
	resp, err := transport.Call(ctx, q.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceQueueExtendVisibilityResponse, error) {
		return q.c.rpc.QueueExtendVisibility(ctx, req)
	})
	if err != nil {
		return time.Time{}, err
	}
	return atMs(resp.GetInvisibleUntilAtMs()), nil
}

// QueueLen counts a queue's messages.
type QueueLen struct {
	// Ready can be popped now.
	Ready int64
	// InFlight were popped and are neither acked nor visible again.
	InFlight int64
	// Delayed wait for their delay (on push or Nack).
	Delayed int64
}

// Total is every message the queue holds.
func (l QueueLen) Total() int64 { return l.Ready + l.InFlight + l.Delayed }

// Len counts ready, in-flight and delayed messages as a pop now would see
// them: a message whose delay or visibility timeout has passed counts as
// ready (or, out of receives, as dead-lettered) at once.
func (q *Queue) Len(ctx context.Context) (QueueLen, error) {
	req := &pb.CollectionsServiceQueueLenRequest{Queue: q.name}
	resp, err := transport.Call(ctx, q.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceQueueLenResponse, error) {
		return q.c.rpc.QueueLen(ctx, req)
	})
	if err != nil {
		return QueueLen{}, err
	}
	return QueueLen{Ready: resp.GetReady(), InFlight: resp.GetInFlight(), Delayed: resp.GetDelayed()}, nil
}

// Peek answers up to n (1 to 1000) of the next ready messages in FIFO
// order, without popping them (no receipts).
func (q *Queue) Peek(ctx context.Context, n int) ([]*Message, error) {
	if n < 1 || n > 1000 {
		return nil, transport.Invalid("n", "must be in [1, 1000], got %d", n)
	}
	req := &pb.CollectionsServiceQueuePeekRequest{Queue: q.name, Count: int32(n)}
	resp, err := transport.Call(ctx, q.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceQueuePeekResponse, error) {
		return q.c.rpc.QueuePeek(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Message, len(resp.GetMessages()))
	for i, m := range resp.GetMessages() {
		out[i] = q.message(m)
	}
	return out, nil
}

// Purge removes every message (ready, in flight and delayed) and answers
// how many there were.
func (q *Queue) Purge(ctx context.Context) (int64, error) {
	req := &pb.CollectionsServiceQueuePurgeRequest{RequestId: transport.NewRequestID(), Queue: q.name}
	resp, err := transport.Call(ctx, q.c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceQueuePurgeResponse, error) {
		return q.c.rpc.QueuePurge(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetPurged(), nil
}

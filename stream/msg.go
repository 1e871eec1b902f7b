package stream

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Msg is a message delivered by a consumer. Settle it with exactly one of
// Ack, AckSync, Nak, NakWithDelay or Term (InProgress may come before); an
// unsettled message is delivered again after the consumer's AckWait. Ack
// hands the ack over without waiting for the server, so after it any
// further Ack, AckSync, Nak, Term or InProgress of the same Msg fails (Kind
// invalid) and sends nothing; the other calls wait for the server and
// return its answer (not_owner for a delivery superseded by a redelivery).
type Msg struct {
	Subject string
	Payload []byte
	Headers Header
	// MsgID is the id it was published with, if any.
	MsgID string
	// Metadata of this delivery.
	Stream       string
	Consumer     string
	StreamSeq    uint64
	ConsumerSeq  uint64
	NumDelivered uint32
	NumPending   uint64
	Timestamp    time.Time

	c     *Consumer
	state uint32 // msgOpen or msgAcked; atomic
}

func (c *Consumer) msgFrom(m *streampb.StreamMsg) *Msg {
	out := new(Msg)
	c.fillMsg(out, m)
	return out
}

func (c *Consumer) fillMsg(out *Msg, m *streampb.StreamMsg) {
	*out = Msg{
		Subject: m.GetSubject(), Payload: m.GetData(), Headers: headerFrom(m.GetHeaders()), MsgID: m.GetMsgId(),
		Stream: m.GetStream(), Consumer: m.GetConsumer(), StreamSeq: m.GetStreamSeq(), ConsumerSeq: m.GetConsumerSeq(),
		NumDelivered: m.GetNumDelivered(), NumPending: m.GetNumPending(), Timestamp: msTime(m.GetStoredAtMs()), c: c,
	}
}

// Ack states of a Msg (Msg.state, accessed atomically).
const (
	msgOpen  uint32 = iota
	msgAcked        // handed to the connection by Ack
)

// check refuses a message that no consumer delivered, or that Ack has
// already settled.
func (m *Msg) check() error {
	if m.c == nil {
		return transport.Invalid("Msg", "was not delivered by a consumer")
	}
	if atomic.LoadUint32(&m.state) == msgAcked {
		return errAcked(m)
	}
	return nil
}

func errAcked(m *Msg) error {
	return transport.Invalid("Msg", "stream seq %d was already acked (Ack)", m.StreamSeq)
}

// call sends one settle item and waits for the server's answer.
func (m *Msg) call(ctx context.Context, item *streampb.StreamAckItem) error {
	item.StreamSeq, item.NumDelivered = m.StreamSeq, m.NumDelivered
	req := &streampb.StreamServiceAckRequest{RequestId: transport.NewRequestID(), Stream: m.c.s.name, Consumer: m.c.name, Items: []*streampb.StreamAckItem{item}}
	// Acks are idempotent on the server, so they are retried through drops.
	resp, err := transport.Call(ctx, m.c.s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceAckResponse, error) {
		return m.c.s.c.rpc.Ack(ctx, req)
	})
	if err != nil {
		return err
	}
	if rs := resp.GetResults(); len(rs) == 1 {
		return transport.ServerError(rs[0])
	}
	return nil
}

// settle is a synchronous settlement: it returns the server's answer.
func (m *Msg) settle(ctx context.Context, item *streampb.StreamAckItem) error {
	if err := m.check(); err != nil {
		return err
	}
	return m.call(ctx, item)
}

// Ack settles the message as processed, as nats.go's Msg.Ack does: it
// hands the ack to the connection and returns without waiting for the
// server. Acks of one consumer travel together: one Ack request (one round
// trip, one replicated write) carries every ack handed over while the
// previous request was in flight, so a lone ack leaves at once and a busy
// consumer's acks share round trips and commits.
//
// At-least-once holds: an ack that does not reach the server (the server
// or the connection failed first) leaves the message pending, and it is
// delivered again after AckWait, never lost. Such failures are logged
// (Warn, on the Conn's logger) and counted (Client.AckFailures). Closing
// the connection first sends the acks still queued (waiting a few seconds
// at most); Client.FlushAcks waits for them without closing. Use AckSync
// to know the ack is committed.
//
// Ack returns an error, sending nothing, for a message that was not
// delivered by a consumer or was already settled, and when the connection
// is closed. It blocks only while MaxAckQueue acks are pending on the
// connection, until there is room or ctx ends; ctx is not otherwise used,
// so an ack handed over just before ctx ends is still sent.
func (m *Msg) Ack(ctx context.Context) error {
	if m.c == nil {
		return transport.Invalid("Msg", "was not delivered by a consumer")
	}
	if !atomic.CompareAndSwapUint32(&m.state, msgOpen, msgAcked) {
		return errAcked(m)
	}
	b, err := m.c.s.c.ackBatcher()
	if err == nil {
		err = b.enqueue(ctx, ackKey{stream: m.c.s.name, consumer: m.c.name}, ackEntry{seq: m.StreamSeq, nd: m.NumDelivered})
	}
	if err != nil {
		atomic.StoreUint32(&m.state, msgOpen) // nothing was handed over
	}
	return err
}

// AckSync settles the message as processed and returns once the server
// has committed the ack (replicated, and on a data dir durable, as any
// write): after it returns nil the message is not delivered again, even
// across a server restart or failover. It is nats.go's Msg.DoubleAck. It
// returns the server's answer for this message (not_found when the
// consumer is gone, ...). An error leaves the outcome unknown and the
// message may be settled again.
//
// AckSync travels with the consumer's other acks: when no Ack request of
// the consumer is in flight it sends its ack at once, from the calling
// goroutine; otherwise its ack rides in the next request, with the acks of
// Msg.Ack and of other AckSyncs made meanwhile (one round trip and one
// replicated write for all of them), and it waits for its own result in
// that request's answer. So concurrent AckSyncs on one consumer share
// requests and commits. When ctx ends first AckSync returns ctx's error
// (mapped) at once; the ack may still be sent and committed (with ctx
// already ended it sends nothing). Once the connection is closed it
// returns ErrClosed. Like Ack, it waits for room while MaxAckQueue acks
// are pending on the connection.
func (m *Msg) AckSync(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	b, err := m.c.s.c.ackBatcher()
	if err != nil {
		return err
	}
	return b.ackSync(ctx, ackKey{stream: m.c.s.name, consumer: m.c.name}, m.StreamSeq, m.NumDelivered)
}

// Nak asks for the message to be delivered again at once. It waits for the
// server's answer.
func (m *Msg) Nak(ctx context.Context) error { return m.NakWithDelay(ctx, 0) }

// NakWithDelay asks for the message to be delivered again after delay. It
// waits for the server's answer.
func (m *Msg) NakWithDelay(ctx context.Context, delay time.Duration) error {
	if delay < 0 {
		return transport.Invalid("delay", "must not be negative")
	}
	return m.settle(ctx, &streampb.StreamAckItem{Kind: streampb.StreamAckKind_STREAM_ACK_KIND_NAK, NakDelayMs: delay.Milliseconds()})
}

// InProgress restarts the message's ack wait: the consumer is still
// working on it. It waits for the server's answer, and does not settle the
// message.
func (m *Msg) InProgress(ctx context.Context) error {
	return m.settle(ctx, &streampb.StreamAckItem{Kind: streampb.StreamAckKind_STREAM_ACK_KIND_IN_PROGRESS})
}

// Term settles the message without processing it: it is never delivered
// again, and counts as acked for retention. It waits for the server's
// answer.
func (m *Msg) Term(ctx context.Context) error { return m.TermWithReason(ctx, "") }

// TermWithReason is Term with a reason, kept for logs.
func (m *Msg) TermWithReason(ctx context.Context, reason string) error {
	return m.settle(ctx, &streampb.StreamAckItem{Kind: streampb.StreamAckKind_STREAM_ACK_KIND_TERM, TermReason: reason})
}

// Ack acks many delivered messages of this consumer in one call (one round
// trip, one replicated write), for consumers that process in batches. It
// returns the failures of individual messages joined, or the call's error.
func (c *Consumer) Ack(ctx context.Context, msgs ...*Msg) error {
	if len(msgs) == 0 {
		return nil
	}
	if len(msgs) > 10_000 {
		return transport.Invalid("msgs", "%d messages, limit 10000", len(msgs))
	}
	items := make([]*streampb.StreamAckItem, len(msgs))
	store := make([]streampb.StreamAckItem, len(msgs))
	for i, m := range msgs {
		if m == nil || m.c == nil || m.c.name != c.name || m.c.s.name != c.s.name {
			return transport.Invalid("msgs", "message %d was not delivered by consumer %q", i, c.name)
		}
		it := &store[i]
		it.StreamSeq, it.NumDelivered, it.Kind = m.StreamSeq, m.NumDelivered, streampb.StreamAckKind_STREAM_ACK_KIND_ACK
		items[i] = it
	}
	req := &streampb.StreamServiceAckRequest{RequestId: transport.NewRequestID(), Stream: c.s.name, Consumer: c.name, Items: items}
	resp, err := transport.Call(ctx, c.s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceAckResponse, error) {
		return c.s.c.rpc.Ack(ctx, req)
	})
	if err != nil {
		return err
	}
	var errs []error
	for i, r := range resp.GetResults() {
		if err := transport.ServerError(r); err != nil {
			errs = append(errs, fmt.Errorf("msgs[%d] (stream seq %d): %w", i, msgs[i].StreamSeq, err))
		}
	}
	return errors.Join(errs...)
}

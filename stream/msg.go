package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Msg is a message delivered by a consumer. Settle it with exactly one of
// Ack, Nak, NakWithDelay or Term (InProgress may come before); an unsettled
// message is delivered again after the consumer's AckWait.
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

	c *Consumer
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

func (m *Msg) settle(ctx context.Context, item *streampb.StreamAckItem) error {
	if m.c == nil {
		return transport.Invalid("Msg", "was not delivered by a consumer")
	}
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

// Ack settles the message as processed: it is not delivered again.
func (m *Msg) Ack(ctx context.Context) error {
	return m.settle(ctx, &streampb.StreamAckItem{Kind: streampb.StreamAckKind_STREAM_ACK_KIND_ACK})
}

// Nak asks for the message to be delivered again at once.
func (m *Msg) Nak(ctx context.Context) error { return m.NakWithDelay(ctx, 0) }

// NakWithDelay asks for the message to be delivered again after delay.
func (m *Msg) NakWithDelay(ctx context.Context, delay time.Duration) error {
	if delay < 0 {
		return transport.Invalid("delay", "must not be negative")
	}
	return m.settle(ctx, &streampb.StreamAckItem{Kind: streampb.StreamAckKind_STREAM_ACK_KIND_NAK, NakDelayMs: delay.Milliseconds()})
}

// InProgress restarts the message's ack wait: the consumer is still
// working on it.
func (m *Msg) InProgress(ctx context.Context) error {
	return m.settle(ctx, &streampb.StreamAckItem{Kind: streampb.StreamAckKind_STREAM_ACK_KIND_IN_PROGRESS})
}

// Term settles the message without processing it: it is never delivered
// again, and counts as acked for retention.
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

package stream

import (
	"context"
	"iter"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Messages is a push delivery iterator over a consumer, from
// Consumer.Messages. A goroutine owned by the connection keeps the server's
// delivery stream open, rebinding after drops and server restarts; the
// server keeps the consumer's position, so a rebind continues where
// delivery stopped, and a message delivered to a dropped stream comes again
// only if it was not acked within AckWait. It ends as every SDK iterator
// does (see the transport package doc, # Iterators): Next returns a nil
// message and a non-nil error saying why.
type Messages struct{ p *transport.Pump[*Msg] }

// messagesBuffer is how many delivered messages wait for Next; beyond it
// the server's stream is back-pressured.
const messagesBuffer = 256

// Messages opens push delivery. Next returns messages until ctx ends, Stop
// is called, the connection closes, or the consumer is deleted; then it
// returns a nil message and the reason: io.EOF after Stop, ctx's error,
// ErrClosed, ErrNotFound, ...
func (c *Consumer) Messages(ctx context.Context) (*Messages, error) {
	if err := checkName("consumer", c.name); err != nil {
		return nil, err
	}
	// Fail fast on a consumer that does not exist.
	if _, err := c.Info(ctx); err != nil {
		return nil, err
	}
	req := &streampb.StreamServiceConsumeRequest{Stream: c.s.name, Consumer: c.name}
	p, err := transport.StartPump(ctx, c.s.c.conn, transport.PumpConfig{Buffer: messagesBuffer},
		func(ctx context.Context) (transport.Receiver[streampb.StreamServiceConsumeResponse], error) {
			return c.s.c.rpc.Consume(ctx, req)
		},
		func(resp *streampb.StreamServiceConsumeResponse, emit func(*Msg) error) error {
			if err := transport.ServerError(resp.GetResult()); err != nil {
				return err
			}
			if resp.GetMsg() == nil {
				return nil // heartbeat
			}
			return emit(c.msgFrom(resp.GetMsg()))
		})
	if err != nil {
		return nil, err
	}
	return &Messages{p: p}, nil
}

// Next returns the next message. After the iterator ends it returns a nil
// message and why it ended: io.EOF after Stop, the error of the context
// given to Messages when it ended, ErrClosed when the Client was closed,
// ErrNotFound when the consumer or stream was deleted, ...
func (it *Messages) Next() (*Msg, error) { return it.p.Next() }

// Stop ends the iterator and waits for its goroutine. Messages buffered but
// not returned by Next are not acked and will be redelivered.
func (it *Messages) Stop() { it.p.Stop() }

// All ranges over the messages Next has not returned yet; breaking out of
// the loop stops the iterator, and an error that ended it (other than
// io.EOF) is yielded once, last.
func (it *Messages) All() iter.Seq2[*Msg, error] { return it.p.All() }

// All ranges over the consumer's messages until ctx ends or the loop
// breaks; a failure (opening the delivery, ctx's error, or what else ended
// it) is yielded once, as the last element.
func (c *Consumer) All(ctx context.Context) iter.Seq2[*Msg, error] {
	return func(yield func(*Msg, error) bool) {
		it, err := c.Messages(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		it.All()(yield)
	}
}

// Fetch pulls up to n messages: it waits up to maxWait for the first to be
// ready, then answers at once with whatever is ready. With nothing ready in
// time it returns an empty slice and no error.
func (c *Consumer) Fetch(ctx context.Context, n int, maxWait time.Duration) ([]*Msg, error) {
	if err := checkName("consumer", c.name); err != nil {
		return nil, err
	}
	if n <= 0 || n > 10_000 {
		return nil, transport.Invalid("n", "must be 1..10000, got %d", n)
	}
	if maxWait < 0 {
		return nil, transport.Invalid("maxWait", "must not be negative")
	}
	// No deadline of its own: the server answers within maxWait, and ctx (or
	// the Conn's WithCallTimeout) bounds a server that does not. A deadline
	// here would cost every fetch a timer on both sides.
	req := &streampb.StreamServiceFetchRequest{Stream: c.s.name, Consumer: c.name, Batch: int32(n), MaxWaitMs: maxWait.Milliseconds()}
	// Retrying a fetch is safe: what an unanswered attempt delivered is
	// redelivered after AckWait.
	resp, err := transport.Call(ctx, c.s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceFetchResponse, error) {
		return c.s.c.rpc.Fetch(ctx, req)
	})
	if transport.IsServerCode(err, transport.CodeExpired) {
		return []*Msg{}, nil
	}
	if err != nil {
		return nil, err
	}
	// One backing array for the whole batch keeps a fetch at a constant
	// number of allocations, whatever its size.
	pbs := resp.GetMsgs()
	slab := make([]Msg, len(pbs))
	out := make([]*Msg, len(pbs))
	for i, m := range pbs {
		c.fillMsg(&slab[i], m)
		out[i] = &slab[i]
	}
	return out, nil
}

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
// only if it was not acked within AckWait.
type Messages struct {
	c      *Consumer
	ch     chan *Msg
	done   chan struct{}
	err    error // set before done is closed
	cancel context.CancelFunc
}

// messagesBuffer is how many delivered messages wait for Next; beyond it
// the server's stream is back-pressured.
const messagesBuffer = 256

// Messages opens push delivery. Next returns messages until ctx ends, Stop
// is called, the connection closes, or the consumer is deleted; then it
// returns a nil message and the reason.
func (c *Consumer) Messages(ctx context.Context) (*Messages, error) {
	if err := checkName("consumer", c.name); err != nil {
		return nil, err
	}
	// Fail fast on a consumer that does not exist.
	if _, err := c.Info(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	it := &Messages{c: c, ch: make(chan *Msg, messagesBuffer), done: make(chan struct{}), cancel: cancel}
	conn := c.s.c.conn
	req := &streampb.StreamServiceConsumeRequest{Stream: c.s.name, Consumer: c.name}
	ok := conn.Go(func(context.Context) {
		defer close(it.done)
		it.err = transport.Follow(ctx, conn,
			func(ctx context.Context) (transport.Receiver[streampb.StreamServiceConsumeResponse], error) {
				return c.s.c.rpc.Consume(ctx, req)
			},
			func(resp *streampb.StreamServiceConsumeResponse) error {
				if err := transport.ServerError(resp.GetResult()); err != nil {
					return err
				}
				if resp.GetMsg() == nil {
					return nil // heartbeat
				}
				select {
				case it.ch <- c.msgFrom(resp.GetMsg()):
					return nil
				case <-ctx.Done():
					return transport.MapError(ctx, ctx.Err())
				}
			})
	})
	if !ok {
		cancel()
		return nil, transport.ErrClosed
	}
	return it, nil
}

// Next returns the next message. After the iterator ends it returns a nil
// message and why it ended (ctx's error, ErrClosed, ErrNotFound, ...).
func (it *Messages) Next() (*Msg, error) {
	select {
	case m := <-it.ch:
		return m, nil
	case <-it.done:
		select {
		case m := <-it.ch:
			return m, nil
		default:
		}
		return nil, it.err
	}
}

// Stop ends the iterator and waits for its goroutine. Messages buffered but
// not returned by Next are not acked and will be redelivered.
func (it *Messages) Stop() {
	it.cancel()
	<-it.done
}

// All ranges over the consumer's messages until ctx ends or the loop
// breaks; a failure is yielded once, as the last element.
func (c *Consumer) All(ctx context.Context) iter.Seq2[*Msg, error] {
	return func(yield func(*Msg, error) bool) {
		it, err := c.Messages(ctx)
		if err != nil {
			yield(nil, err)
			return
		}
		defer it.Stop()
		for {
			m, err := it.Next()
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(m, nil) {
				return
			}
		}
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

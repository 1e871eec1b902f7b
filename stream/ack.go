package stream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// MaxAckQueue bounds the acks of one Conn that Msg.Ack has handed over
// and the server has not answered yet; Msg.Ack waits (until its ctx ends)
// while that many are pending.
const MaxAckQueue = 16384

const (
	// maxAckBatch bounds the acks sent in one Ack request.
	maxAckBatch = 1024
	// ackFlushTimeout bounds one flush, retries through drops included;
	// acks it could not deliver are redelivered after AckWait.
	ackFlushTimeout = 30 * time.Second
)

// ackCloseTimeout bounds how long closing the Conn waits for pending acks
// to be answered (a variable for tests).
var ackCloseTimeout = 5 * time.Second

// ackBatchers holds each Conn's ack batcher (*transport.Conn →
// *ackBatcher), made on the first Msg.Ack and removed when the Conn closes.
var ackBatchers sync.Map

// ackBatcher sends the acks handed to Msg.Ack. Acks queue per consumer; a
// consumer with acks queued and no flush running gets a flush goroutine
// (owned by the Conn) that sends what has queued as one Ack request (one
// round trip, one replicated write), then whatever queued meanwhile, and
// ends when the queue is empty. So a lone ack leaves at once and, under
// load, acks coalesce while the previous request is in flight; an idle
// consumer costs nothing.
type ackBatcher struct {
	conn *transport.Conn
	rpc  streampb.StreamServiceClient
	sem  chan struct{} // one slot per pending ack

	failed atomic.Uint64 // acks whose flush failed

	mu      sync.Mutex
	queues  map[ackKey]*ackQueue
	active  int // queues with a flush running
	pending int // acks handed over and not yet answered
	closing bool
	idle    chan struct{} // closed when active drops to 0 once closing
	drained []chan struct{}
}

type ackKey struct{ stream, consumer string }

type ackQueue struct {
	items []ackEntry
}

type ackEntry struct {
	seq uint64
	nd  uint32
}

func acksFor(conn *transport.Conn) (*ackBatcher, error) {
	if b, ok := ackBatchers.Load(conn); ok {
		return b.(*ackBatcher), nil
	}
	nb := &ackBatcher{conn: conn, rpc: streampb.NewStreamServiceClient(conn), sem: make(chan struct{}, MaxAckQueue), queues: map[ackKey]*ackQueue{}}
	b, loaded := ackBatchers.LoadOrStore(conn, nb)
	if loaded {
		return b.(*ackBatcher), nil
	}
	if !conn.OnClose(nb.close) {
		ackBatchers.CompareAndDelete(conn, nb)
		return nil, transport.ErrClosed
	}
	return nb, nil
}

// enqueue hands one ack over, waiting for room while MaxAckQueue acks are
// pending.
func (b *ackBatcher) enqueue(ctx context.Context, key ackKey, e ackEntry) error {
	select {
	case b.sem <- struct{}{}:
	default:
		select {
		case b.sem <- struct{}{}:
		case <-ctx.Done():
			return transport.MapError(ctx, ctx.Err())
		case <-b.conn.Context().Done():
			return transport.ErrClosed
		}
	}
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		<-b.sem
		return transport.ErrClosed
	}
	q := b.queues[key]
	start := q == nil
	if start {
		q = &ackQueue{}
		b.queues[key] = q
		b.active++
	}
	q.items = append(q.items, e)
	b.pending++
	b.mu.Unlock()
	if start && !b.conn.Go(func(ctx context.Context) { b.flush(ctx, key, q) }) {
		// The Conn closed meanwhile: nothing will send these.
		b.mu.Lock()
		n := b.finish(key, q)
		b.mu.Unlock()
		b.failed.Add(uint64(n))
		return transport.ErrClosed
	}
	return nil
}

// flush sends q's acks until q is empty.
func (b *ackBatcher) flush(ctx context.Context, key ackKey, q *ackQueue) {
	var (
		slab  []streampb.StreamAckItem
		items []*streampb.StreamAckItem
	)
	for {
		b.mu.Lock()
		n := min(len(q.items), maxAckBatch)
		if n == 0 || ctx.Err() != nil {
			lost := b.finish(key, q)
			b.mu.Unlock()
			if lost > 0 {
				b.failed.Add(uint64(lost))
				b.conn.Logger().Warn("waymaker: stream acks not sent: the connection closed first; those messages are delivered again after AckWait",
					zap.String("stream", key.stream), zap.String("consumer", key.consumer), zap.Int("acks", lost))
			}
			return
		}
		if cap(slab) < n {
			slab = make([]streampb.StreamAckItem, maxAckBatch)
			items = make([]*streampb.StreamAckItem, maxAckBatch)
		}
		for i, e := range q.items[:n] {
			it := &slab[i]
			it.Reset()
			it.StreamSeq, it.NumDelivered, it.Kind = e.seq, e.nd, streampb.StreamAckKind_STREAM_ACK_KIND_ACK
			items[i] = it
		}
		q.items = append(q.items[:0], q.items[n:]...)
		b.mu.Unlock()

		b.send(ctx, key, items[:n])

		b.mu.Lock()
		b.answered(n)
		b.mu.Unlock()
	}
}

// send makes one Ack request; failures are logged and counted, never
// returned: an ack that did not land leaves its message pending, and it is
// delivered again after AckWait.
func (b *ackBatcher) send(ctx context.Context, key ackKey, items []*streampb.StreamAckItem) {
	ctx, cancel := context.WithTimeout(ctx, ackFlushTimeout)
	defer cancel()
	req := &streampb.StreamServiceAckRequest{RequestId: transport.NewRequestID(), Stream: key.stream, Consumer: key.consumer, Items: items}
	// Acks are idempotent on the server, so they are retried through drops.
	resp, err := transport.Call(ctx, b.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceAckResponse, error) {
		return b.rpc.Ack(ctx, req)
	})
	if err != nil {
		b.failed.Add(uint64(len(items)))
		b.conn.Logger().Warn("waymaker: stream acks failed; those messages are delivered again after AckWait",
			zap.String("stream", key.stream), zap.String("consumer", key.consumer), zap.Int("acks", len(items)), zap.Error(err))
		return
	}
	var bad int
	var first error
	for _, r := range resp.GetResults() {
		if err := transport.ServerError(r); err != nil {
			if bad == 0 {
				first = err
			}
			bad++
		}
	}
	if bad > 0 {
		b.failed.Add(uint64(bad))
		b.conn.Logger().Warn("waymaker: stream acks refused by the server",
			zap.String("stream", key.stream), zap.String("consumer", key.consumer), zap.Int("acks", bad), zap.Error(first))
	}
}

// answered releases n acks' slots; b.mu is held.
func (b *ackBatcher) answered(n int) {
	for range n {
		<-b.sem
	}
	b.pending -= n
	if b.pending == 0 {
		for _, ch := range b.drained {
			close(ch)
		}
		b.drained = nil
	}
}

// finish ends q's flush, dropping what it still holds, and returns how
// many acks it dropped; b.mu is held.
func (b *ackBatcher) finish(key ackKey, q *ackQueue) int {
	n := len(q.items)
	q.items = nil
	if b.queues[key] == q {
		delete(b.queues, key)
	}
	b.answered(n)
	b.active--
	if b.active == 0 && b.idle != nil {
		close(b.idle)
		b.idle = nil
	}
	return n
}

// close runs when the Conn closes, before it tears anything down: it
// refuses new acks and waits, up to ackCloseTimeout, for the pending ones
// to be answered.
func (b *ackBatcher) close() {
	b.mu.Lock()
	b.closing = true
	ackBatchers.CompareAndDelete(b.conn, b)
	var idle chan struct{}
	if b.active > 0 {
		b.idle = make(chan struct{})
		idle = b.idle
	}
	b.mu.Unlock()
	if idle == nil {
		return
	}
	t := time.NewTimer(ackCloseTimeout)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
		b.mu.Lock()
		n := b.pending
		b.mu.Unlock()
		b.conn.Logger().Warn("waymaker: closing with stream acks unanswered; those messages may be delivered again after AckWait",
			zap.Int("acks", n), zap.Duration("waited", ackCloseTimeout))
	}
}

// wait returns once no ack is pending, or ctx ends.
func (b *ackBatcher) wait(ctx context.Context) error {
	b.mu.Lock()
	if b.pending == 0 {
		b.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	b.drained = append(b.drained, ch)
	b.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return transport.MapError(ctx, ctx.Err())
	}
}

// FlushAcks waits until every ack handed to Msg.Ack on this client's
// connection so far has been answered by the server (or its flush has
// failed, see AckFailures), or ctx ends. It does not make the acks more
// durable than they are: an answered ack is committed.
func (c *Client) FlushAcks(ctx context.Context) error {
	if b := c.acks.Load(); b != nil {
		return b.wait(ctx)
	}
	if b, ok := ackBatchers.Load(c.conn); ok {
		return b.(*ackBatcher).wait(ctx)
	}
	return nil
}

// AckFailures returns how many acks handed to Msg.Ack on this client's
// connection could not be delivered: the server refused them, their flush
// failed through its retries, or the connection closed first. Each is also
// logged (Warn) on the Conn's logger. Their messages stay pending and are
// delivered again after AckWait.
func (c *Client) AckFailures() uint64 {
	if b := c.acks.Load(); b != nil {
		return b.failed.Load()
	}
	if b, ok := ackBatchers.Load(c.conn); ok {
		return b.(*ackBatcher).failed.Load()
	}
	return 0
}

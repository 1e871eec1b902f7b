package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// MaxAckQueue bounds the acks of one Conn that Msg.Ack and Msg.AckSync
// have handed over and the server has not answered yet; both wait (until
// their ctx ends) while that many are pending.
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
// *ackBatcher), made on the first Msg.Ack or Msg.AckSync and removed when
// the Conn closes.
var ackBatchers sync.Map

// ackBatcher sends the acks of Msg.Ack and Msg.AckSync. Acks queue per
// consumer; a consumer with acks queued and no request in flight gets a
// flush goroutine (owned by the Conn) that sends what has queued as one
// Ack request (one round trip, one replicated write), then whatever queued
// meanwhile, and ends when the queue is empty. So a lone ack leaves at
// once and, under load, acks coalesce while the previous request is in
// flight; an idle consumer costs nothing.
//
// An AckSync whose consumer has no request in flight sends its ack itself,
// on its own goroutine and under its own ctx (no hand-over to a flush
// goroutine, so a lone AckSync costs what one Ack call costs); acks queued
// meanwhile go on with a flush goroutine. An AckSync that finds a request
// in flight queues its ack with a reply channel and waits for its own
// item's result from the batch's response.
type ackBatcher struct {
	conn *transport.Conn
	rpc  streampb.StreamServiceClient
	sem  chan struct{} // one slot per pending ack

	failed atomic.Uint64 // Msg.Ack acks refused, or whose flush failed

	mu      sync.Mutex
	queues  map[ackKey]*ackQueue // a consumer's queue exists while a request of it is in flight
	active  int                  // queues with a request in flight
	pending int                  // acks handed over and not yet answered
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
	// reply receives the item's result for an AckSync (buffered, 1); nil
	// for a Msg.Ack, whose failures are logged and counted instead.
	reply chan error
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

// reserve takes one pending ack's slot, waiting for room while MaxAckQueue
// acks are pending.
func (b *ackBatcher) reserve(ctx context.Context) error {
	select {
	case b.sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case b.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return transport.MapError(ctx, ctx.Err())
	case <-b.conn.Context().Done():
		return transport.ErrClosed
	}
}

// enqueue hands one ack over, waiting for room while MaxAckQueue acks are
// pending.
func (b *ackBatcher) enqueue(ctx context.Context, key ackKey, e ackEntry) error {
	if err := b.reserve(ctx); err != nil {
		return err
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
		q = b.open(key)
	}
	q.items = append(q.items, e)
	b.pending++
	b.mu.Unlock()
	if start && !b.startFlush(key, q) {
		return transport.ErrClosed // nothing will send it
	}
	return nil
}

// ackSync sends one ack and returns its own result: the server's answer
// for it, or why it was not answered. When ctx ends first it returns the
// mapped ctx error at once; the ack may still be sent.
func (b *ackBatcher) ackSync(ctx context.Context, key ackKey, seq uint64, nd uint32) error {
	if err := ctx.Err(); err != nil {
		return transport.MapError(ctx, err) // sends nothing
	}
	if err := b.reserve(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		<-b.sem
		return transport.ErrClosed
	}
	b.pending++
	if q := b.queues[key]; q != nil {
		// A request of this consumer is in flight: ride with the next.
		reply := make(chan error, 1)
		q.items = append(q.items, ackEntry{seq: seq, nd: nd, reply: reply})
		b.mu.Unlock()
		select {
		case err := <-reply:
			return err
		case <-ctx.Done():
			return transport.MapError(ctx, ctx.Err())
		}
	}
	// Nothing in flight: send it from here, under ctx. Acks queued
	// meanwhile wait for this request, then go on with a flush goroutine.
	q := b.open(key)
	b.mu.Unlock()
	item := &streampb.StreamAckItem{StreamSeq: seq, NumDelivered: nd, Kind: streampb.StreamAckKind_STREAM_ACK_KIND_ACK}
	results, err := b.send(ctx, key, []*streampb.StreamAckItem{item})
	switch {
	case err == nil:
		err = itemResult(results, 0)
	case ctx.Err() == nil && b.conn.Context().Err() != nil:
		err = transport.ErrClosed // the Conn closed under the call
	}
	b.mu.Lock()
	b.answered(1)
	if len(q.items) == 0 {
		b.finish(key, q)
		b.mu.Unlock()
		return err
	}
	b.mu.Unlock()
	b.startFlush(key, q)
	return err
}

// open makes key's queue, marking a request of it in flight; b.mu is held
// and key has no queue.
func (b *ackBatcher) open(key ackKey) *ackQueue {
	q := &ackQueue{}
	b.queues[key] = q
	b.active++
	return q
}

// startFlush starts q's flush goroutine. When the Conn has closed it drops
// q's acks (AckSyncs waiting get ErrClosed) and reports false.
func (b *ackBatcher) startFlush(key ackKey, q *ackQueue) bool {
	if b.conn.Go(func(ctx context.Context) { b.flush(ctx, key, q) }) {
		return true
	}
	b.mu.Lock()
	n := b.finish(key, q)
	b.mu.Unlock()
	b.failed.Add(uint64(n))
	return false
}

// flush sends q's acks until q is empty.
func (b *ackBatcher) flush(ctx context.Context, key ackKey, q *ackQueue) {
	var (
		batch []ackEntry
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
		batch = append(batch[:0], q.items[:n]...)
		for i, e := range batch {
			it := &slab[i]
			it.Reset()
			it.StreamSeq, it.NumDelivered, it.Kind = e.seq, e.nd, streampb.StreamAckKind_STREAM_ACK_KIND_ACK
			items[i] = it
		}
		q.items = append(q.items[:0], q.items[n:]...)
		b.mu.Unlock()

		sctx, cancel := context.WithTimeout(ctx, ackFlushTimeout)
		results, err := b.send(sctx, key, items[:n])
		cancel()
		b.answer(key, batch, results, err)
		clear(batch) // drop the reply channels

		b.mu.Lock()
		b.answered(n)
		b.mu.Unlock()
	}
}

// send makes one Ack request and returns its per-item results.
func (b *ackBatcher) send(ctx context.Context, key ackKey, items []*streampb.StreamAckItem) ([]*commonpb.Result, error) {
	// One request id for every attempt of this request: a retry is
	// answered with the first answer. (Acks are idempotent on the server
	// anyway, so they are retried through drops.)
	req := &streampb.StreamServiceAckRequest{RequestId: transport.NewRequestID(), Stream: key.stream, Consumer: key.consumer, Items: items}
	resp, err := transport.Call(ctx, b.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceAckResponse, error) {
		return b.rpc.Ack(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return resp.GetResults(), nil
}

// answer hands each item of a sent batch its result: an AckSync gets its
// own (the server's answer for its item, or the request's failure); the
// failures of Msg.Ack's items are logged and counted, never returned: an
// ack that did not land leaves its message pending, and it is delivered
// again after AckWait.
func (b *ackBatcher) answer(key ackKey, batch []ackEntry, results []*commonpb.Result, err error) {
	var (
		failed, refused int
		first           error
	)
	if err != nil {
		syncErr := b.unanswered(err)
		for _, e := range batch {
			if e.reply != nil {
				e.reply <- syncErr
			} else {
				failed++
			}
		}
		if failed > 0 {
			b.failed.Add(uint64(failed))
			b.conn.Logger().Warn("waymaker: stream acks failed; those messages are delivered again after AckWait",
				zap.String("stream", key.stream), zap.String("consumer", key.consumer), zap.Int("acks", failed), zap.Error(err))
		}
		return
	}
	for i, e := range batch {
		if e.reply != nil {
			e.reply <- itemResult(results, i)
			continue
		}
		var ierr error
		if i < len(results) {
			ierr = transport.ServerError(results[i])
		}
		if ierr != nil {
			if refused == 0 {
				first = ierr
			}
			refused++
		}
	}
	if refused > 0 {
		b.failed.Add(uint64(refused))
		b.conn.Logger().Warn("waymaker: stream acks refused by the server",
			zap.String("stream", key.stream), zap.String("consumer", key.consumer), zap.Int("acks", refused), zap.Error(first))
	}
}

// itemResult is an AckSync's answer from its request's results: the
// server's answer for item i. A response without it confirms nothing, so
// it is an error, not a success.
func itemResult(results []*commonpb.Result, i int) error {
	if i >= len(results) {
		return transport.ServerError(nil)
	}
	return transport.ServerError(results[i])
}

// unanswered is what an AckSync whose ack rode in a failed flush returns:
// ErrClosed once the Conn has closed; the flush's own time bound running
// out is not the caller's deadline, so it reads as Unavailable (outcome
// unknown) and does not match context.DeadlineExceeded; anything else as
// the call failed (already a *transport.Error).
func (b *ackBatcher) unanswered(err error) error {
	if b.conn.Context().Err() != nil {
		return transport.ErrClosed
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &transport.Error{Kind: transport.KindRPC, Code: transport.ErrUnavailable.Code,
			Message: fmt.Sprintf("ack not answered within %v, its outcome is unknown: %v", ackFlushTimeout, err)}
	}
	return err
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

// finish ends q's flush, dropping what it still holds (an AckSync waiting
// gets ErrClosed), and returns how many of Msg.Ack's acks it dropped;
// b.mu is held.
func (b *ackBatcher) finish(key ackKey, q *ackQueue) int {
	n := len(q.items)
	lost := 0
	for _, e := range q.items {
		if e.reply != nil {
			e.reply <- transport.ErrClosed
		} else {
			lost++
		}
	}
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
	return lost
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

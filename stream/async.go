package stream

import (
	"context"
	"sync"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// MaxAsyncPending bounds the PublishAsync messages of one Stream handle
// that await their ack; PublishAsync blocks (until its ctx ends) while that
// many are pending.
const MaxAsyncPending = 16384

// PubAckFuture is the pending ack of a PublishAsync.
type PubAckFuture struct {
	done chan struct{}
	ack  PubAck
	err  error
	msg  *streampb.StreamPublishMessage
}

// Done is closed once the ack (or the failure) is known.
func (f *PubAckFuture) Done() <-chan struct{} { return f.done }

// Result returns the ack or the failure; call it after Done is closed.
func (f *PubAckFuture) Result() (PubAck, error) {
	select {
	case <-f.done:
		return f.ack, f.err
	default:
		return PubAck{}, transport.Invalid("PubAckFuture", "Result called before Done")
	}
}

// Wait waits for the ack, or for ctx to end.
func (f *PubAckFuture) Wait(ctx context.Context) (PubAck, error) {
	select {
	case <-f.done:
		return f.ack, f.err
	case <-ctx.Done():
		return PubAck{}, transport.MapError(ctx, ctx.Err())
	}
}

// Subject returns the subject the message was published on.
func (f *PubAckFuture) Subject() string { return f.msg.GetSubject() }

// asyncPublisher pipelines one Stream handle's PublishAsync calls over one
// PublishStream call. PublishAsync only queues; a sender goroutine sends
// whatever has queued as one request (so a burst costs one frame, not one
// per message) and a receiver goroutine matches acks to futures by publish
// id. Both are owned by the Conn.
type asyncPublisher struct {
	s   *Stream
	sem chan struct{}

	mu       sync.Mutex
	cur      *pubCall
	nextID   uint64
	pending  int
	complete chan struct{} // closed when pending drops to 0
}

type pubCall struct {
	stream  streampb.StreamService_PublishStreamClient
	cancel  context.CancelFunc
	kick    chan struct{} // wakes the sender; capacity 1
	queue   []*streampb.StreamPublishMessage
	fences  []*commonpb.Fence // fences[i] is queue[i]'s (nil: none); nil when none has one
	queueID uint64            // publish id of queue[0]
	futures map[uint64]*PubAckFuture
}

var okResult = &commonpb.Result{Success: true}

// maxPublishFrame bounds the messages sent in one PublishStream request.
const maxPublishFrame = 1024

func (s *Stream) publisher() *asyncPublisher {
	s.asyncOnce.Do(func() {
		s.async = &asyncPublisher{s: s, sem: make(chan struct{}, MaxAsyncPending)}
	})
	return s.async
}

// PublishAsync sends a message without waiting for its ack and returns the
// ack's future. Messages of one Stream handle are stored in the order
// PublishAsync was called. At most MaxAsyncPending messages await acks;
// beyond that PublishAsync waits. If the connection drops, the pending
// futures fail (Kind "rpc"); republishing them with the same WithMsgID is
// then safe, and the next PublishAsync opens a new call.
//
// The first PublishAsync of a Stream handle opens one PublishStream call
// that stays open until the connection closes: reuse the handle rather
// than making one per message.
func (s *Stream) PublishAsync(ctx context.Context, subject string, data []byte, opts ...PublishOption) (*PubAckFuture, error) {
	m, fence, err := s.message("subject", subject, data, opts)
	if err != nil {
		return nil, err
	}
	p := s.publisher()
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, transport.MapError(ctx, ctx.Err())
	}
	f := &PubAckFuture{done: make(chan struct{}), msg: m}
	p.mu.Lock()
	call := p.cur
	if call == nil {
		call, err = p.open()
		if err != nil {
			p.mu.Unlock()
			<-p.sem
			return nil, err
		}
	}
	p.nextID++
	id := p.nextID
	call.futures[id] = f
	if len(call.queue) == 0 {
		call.queueID = id
	}
	if fence != nil && call.fences == nil {
		call.fences = make([]*commonpb.Fence, len(call.queue), cap(call.queue))
	}
	call.queue = append(call.queue, m)
	if call.fences != nil {
		call.fences = append(call.fences, fence)
	}
	p.pending++
	p.mu.Unlock()
	select {
	case call.kick <- struct{}{}:
	default: // the sender is already awake
	}
	return f, nil
}

// open starts a PublishStream call with its sender and receiver; p.mu is
// held.
func (p *asyncPublisher) open() (*pubCall, error) {
	conn := p.s.c.conn
	ctx, cancel := context.WithCancel(conn.Context())
	st, err := p.s.c.rpc.PublishStream(ctx)
	if err != nil {
		cancel()
		return nil, transport.MapError(ctx, err)
	}
	call := &pubCall{stream: st, cancel: cancel, kick: make(chan struct{}, 1), futures: map[uint64]*PubAckFuture{}}
	if !conn.Go(func(context.Context) { p.send(ctx, call) }) {
		cancel()
		return nil, transport.ErrClosed
	}
	if !conn.Go(func(context.Context) { p.receive(ctx, call) }) {
		cancel()
		return nil, transport.ErrClosed
	}
	p.cur = call
	return call, nil
}

func (p *asyncPublisher) send(ctx context.Context, call *pubCall) {
	var spare []*streampb.StreamPublishMessage
	for {
		select {
		case <-call.kick:
		case <-ctx.Done():
			return
		}
		p.mu.Lock()
		q, fences, id := call.queue, call.fences, call.queueID
		call.queue, call.fences = spare[:0], nil
		p.mu.Unlock()
		spare = q
		for len(q) > 0 {
			n := min(len(q), maxPublishFrame)
			var fence *commonpb.Fence
			if fences != nil {
				// One request carries one fence: a frame is a run of
				// messages with the same one.
				fence = fences[0]
				for i := 1; i < n; i++ {
					if !sameFence(fences[i], fence) {
						n = i
						break
					}
				}
				fences = fences[n:]
			}
			req := &streampb.StreamServicePublishStreamRequest{PublishId: id, Message: q[0], Fence: fence}
			if n > 1 {
				req.More = q[1:n]
			}
			if err := call.stream.Send(req); err != nil {
				return // the receiver sees the failure and fails the futures
			}
			q, id = q[n:], id+uint64(n)
		}
		clear(spare) // drop references to sent messages
	}
}

func (p *asyncPublisher) receive(ctx context.Context, call *pubCall) {
	defer call.cancel()
	for {
		resp, err := call.stream.Recv()
		if err == nil && resp.GetPublishId() == 0 && !resp.GetResult().GetSuccess() {
			err = transport.ServerError(resp.GetResult())
		}
		if err != nil {
			err = transport.MapError(ctx, err)
			p.mu.Lock()
			if p.cur == call {
				p.cur = nil
			}
			futures := call.futures
			call.futures = nil
			call.queue, call.fences = nil, nil
			for _, f := range futures {
				f.err = err
				close(f.done)
			}
			p.settled(len(futures))
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		if acks := resp.GetAcks(); len(acks) > 0 {
			for i, a := range acks {
				// A compacted ack: no result means success, no stream
				// means the response's.
				r, st := a.GetResult(), a.GetStream()
				if r == nil {
					r = okResult
				}
				if st == "" {
					st = resp.GetStream()
				}
				p.resolve(call, resp.GetPublishId()+uint64(i), r, st, a.GetSeq(), a.GetDuplicate())
			}
		} else {
			p.resolve(call, resp.GetPublishId(), resp.GetResult(), resp.GetStream(), resp.GetSeq(), resp.GetDuplicate())
		}
		p.mu.Unlock()
	}
}

func sameFence(a, b *commonpb.Fence) bool {
	return a.GetKey() == b.GetKey() && a.GetToken() == b.GetToken()
}

// resolve completes one future; p.mu is held.
func (p *asyncPublisher) resolve(call *pubCall, id uint64, r *commonpb.Result, stream string, seq uint64, dup bool) {
	f := call.futures[id]
	if f == nil {
		return
	}
	delete(call.futures, id)
	f.ack = PubAck{Stream: stream, Sequence: seq, Duplicate: dup}
	f.err = transport.ServerError(r)
	close(f.done)
	p.settled(1)
}

// settled accounts for n finished futures; p.mu is held.
func (p *asyncPublisher) settled(n int) {
	for range n {
		<-p.sem
	}
	p.pending -= n
	if p.pending == 0 && p.complete != nil {
		close(p.complete)
		p.complete = nil
	}
}

// PublishAsyncPending returns how many PublishAsync messages await acks.
func (s *Stream) PublishAsyncPending() int {
	p := s.publisher()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}

// PublishAsyncComplete returns a channel closed once every PublishAsync
// message sent so far has its ack (or failure).
func (s *Stream) PublishAsyncComplete() <-chan struct{} {
	p := s.publisher()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if p.complete == nil {
		p.complete = make(chan struct{})
	}
	return p.complete
}

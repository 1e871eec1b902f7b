package stream

import (
	"context"
	"sync"

	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// MaxAsyncPending bounds the PublishAsync messages of one Stream handle
// that await their ack; PublishAsync blocks (until its ctx ends) while that
// many are pending.
const MaxAsyncPending = 4096

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
// PublishStream call: sends do not wait for acks, a goroutine owned by the
// Conn matches acks to futures by publish id.
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
	sendMu  sync.Mutex // Send is not safe for concurrent use
	stream  streampb.StreamService_PublishStreamClient
	futures map[uint64]*PubAckFuture
}

func (s *Stream) publisher() *asyncPublisher {
	s.asyncOnce.Do(func() {
		s.async = &asyncPublisher{s: s, sem: make(chan struct{}, MaxAsyncPending)}
	})
	return s.async
}

// PublishAsync sends a message without waiting for its ack and returns the
// ack's future. Messages of one Stream handle are stored in the order they
// were sent. At most MaxAsyncPending messages await acks; beyond that
// PublishAsync waits. If the connection drops, the pending futures fail
// (Kind "rpc"); republishing them with the same WithMsgID is then safe.
func (s *Stream) PublishAsync(ctx context.Context, subject string, data []byte, opts ...PublishOpt) (*PubAckFuture, error) {
	m, err := s.message("subject", subject, data, opts)
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
	p.pending++
	p.mu.Unlock()

	call.sendMu.Lock()
	err = call.stream.Send(&streampb.StreamServicePublishStreamRequest{PublishId: id, Message: m})
	call.sendMu.Unlock()
	// A failed Send means the call broke: the receiver fails every future
	// of the call, this one included.
	_ = err
	return f, nil
}

// open starts a PublishStream call and its ack receiver; p.mu is held.
func (p *asyncPublisher) open() (*pubCall, error) {
	conn := p.s.c.conn
	st, err := p.s.c.rpc.PublishStream(conn.Context())
	if err != nil {
		return nil, transport.MapError(conn.Context(), err)
	}
	call := &pubCall{stream: st, futures: map[uint64]*PubAckFuture{}}
	if !conn.Go(func(ctx context.Context) { p.receive(ctx, call) }) {
		return nil, transport.ErrClosed
	}
	p.cur = call
	return call, nil
}

func (p *asyncPublisher) receive(ctx context.Context, call *pubCall) {
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
			for _, f := range futures {
				f.err = err
				close(f.done)
			}
			p.settled(len(futures))
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		f := call.futures[resp.GetPublishId()]
		delete(call.futures, resp.GetPublishId())
		if f != nil {
			f.ack = PubAck{Stream: resp.GetStream(), Sequence: resp.GetSeq(), Duplicate: resp.GetDuplicate()}
			f.err = transport.ServerError(resp.GetResult())
			close(f.done)
			p.settled(1)
		}
		p.mu.Unlock()
	}
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

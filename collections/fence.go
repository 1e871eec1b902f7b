package collections

import (
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Fenced writes. Several writes here take variadic fields, members or keys
// (Del, Add, Rem, Expire, Persist, DeleteKeys), so a trailing option has no
// room; instead a store or queue handle gives a fenced copy of itself,
// whose every write carries the fence:
//
//	l, _ := locks.AcquireLock(ctx, "leader", lock.Config{})
//	h := hashes.WithFence(l.Fence())
//	_, err := h.Set(ctx, "config", map[string][]byte{"mode": []byte("on")})
//	if errors.Is(err, waymaker.ErrFenced) { /* no longer the leader */ }
//
// The server applies a fenced write only while the fence's lock is held
// with its token, and otherwise changes nothing and answers ErrFenced (the
// message gives the current token). A refusal is definite and never
// retried. Reads of a fenced handle are plain reads.

// fence is a handle's fence: its wire form, or why it is invalid.
type fence struct {
	pb  *commonpb.Fence
	err error
}

func fenceOf(f transport.Fence) fence {
	if err := transport.CheckFence("fence", f); err != nil {
		return fence{err: err}
	}
	return fence{pb: transport.FencePB(f)}
}

// WithFence returns a copy of the handle whose writes (Set, SetNX, Del,
// IncrBy, IncrByFloat, Expire, ExpireIf, Persist, DeleteKeys) are all
// conditional on f (see transport.Fence). An invalid f (an empty key, a
// zero token) fails each write before anything is sent.
func (s *HashStore) WithFence(f transport.Fence) *HashStore {
	c := *s
	c.fence = fenceOf(f)
	return &c
}

// WithFence returns a copy of the handle whose writes (Add, Rem, Pop, Move,
// DeleteKeys) are all conditional on f (see transport.Fence). An invalid f
// fails each write before anything is sent.
func (s *SetStore) WithFence(f transport.Fence) *SetStore {
	c := *s
	c.fence = fenceOf(f)
	return &c
}

// WithFence returns a copy of the handle whose Push and Ack (also the Ack
// of a Message it popped) are conditional on f (see transport.Fence). An
// invalid f fails each of them before anything is sent.
func (q *Queue) WithFence(f transport.Fence) *Queue {
	c := *q
	c.fence = fenceOf(f)
	return &c
}

// FenceOption is WithFence's option: a PushOption and an AckOption.
type FenceOption struct{ f transport.Fence }

func (o FenceOption) applyPush(p *pushOptions) { p.fence = &o.f }
func (o FenceOption) applyAck(a *ackOptions)   { a.fence = &o.f }

// AckOption sets an option of Queue.Ack.
type AckOption interface{ applyAck(*ackOptions) }

type ackOptions struct{ fence *transport.Fence }

// WithFence makes one Push or Ack conditional on f, as the other
// subsystems' WithFence options do (kv.WithFence, stream.WithFence,
// objstore.WithFence):
//
//	_, err := q.Push(ctx, payload, collections.WithFence(l.Fence()))
//
// It takes precedence over a fence the handle has (Queue.WithFence). The
// hash and set writes take variadic fields or members, so they are fenced
// through their handle instead (HashStore.WithFence, SetStore.WithFence).
// An invalid f (an empty key, a zero token) fails the call before anything
// is sent.
func WithFence(f transport.Fence) FenceOption { return FenceOption{f} }

// callFence is the fence of one call: its option's when given, else the
// handle's.
func callFence(handle fence, opt *transport.Fence) fence {
	if opt != nil {
		return fenceOf(*opt)
	}
	return handle
}

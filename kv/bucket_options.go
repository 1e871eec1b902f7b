package kv

// Per-call options follow one idiom across the SDK: a call's options are an
// interface with one unexported method (DeleteOption: applyDelete), so an
// option valid on several calls is one value whose type has each call's
// method.

import (
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// WriteOption qualifies Put, Create and Update.
type WriteOption interface{ applyWrite(*writeOptions) }

type writeOptions struct{ fence *transport.Fence }

// DeleteOption qualifies Delete and Purge.
type DeleteOption interface{ applyDelete(*deleteOptions) }

type deleteOptions struct {
	lastRev uint64
	fence   *transport.Fence
}

type deleteFunc func(*deleteOptions)

func (f deleteFunc) applyDelete(o *deleteOptions) { f(o) }

// LastRevision makes Delete or Purge happen only if the key's latest
// revision is rev (ErrWrongRevision otherwise).
func LastRevision(rev uint64) DeleteOption {
	return deleteFunc(func(o *deleteOptions) { o.lastRev = rev })
}

// FenceOption is WithFence's option, valid on every mutation of a key.
type FenceOption struct{ f transport.Fence }

func (o FenceOption) applyWrite(w *writeOptions)   { w.fence = &o.f }
func (o FenceOption) applyDelete(d *deleteOptions) { d.fence = &o.f }

// WithFence makes a Put, Create, Update, Delete or Purge conditional on a
// held lock: the server applies it only while f's lock is held with f's
// token, and otherwise changes nothing and answers ErrFenced (the message
// gives the current token). A refusal is definite and never retried.
//
//	l, _ := locks.AcquireLock(ctx, "leader", lock.Config{})
//	rev, err := bucket.Put(ctx, "config", v, kv.WithFence(l.Fence()))
//	if errors.Is(err, waymaker.ErrFenced) { /* no longer the leader */ }
func WithFence(f transport.Fence) FenceOption { return FenceOption{f} }

func writeOptionsOf(opts []WriteOption) writeOptions {
	if len(opts) == 0 {
		return writeOptions{}
	}
	o := new(writeOptions)
	for _, opt := range opts {
		if opt != nil {
			opt.applyWrite(o)
		}
	}
	return *o
}

// fencePB validates the fence of a call, if any, and gives its wire form.
func fencePB(f *transport.Fence) (*commonpb.Fence, error) {
	if f == nil {
		return nil, nil
	}
	if err := transport.CheckFence("fence", *f); err != nil {
		return nil, err
	}
	return transport.FencePB(*f), nil
}

func deleteOptionsOf(opts []DeleteOption) deleteOptions {
	if len(opts) == 0 {
		return deleteOptions{} // no allocation on the common path
	}
	o := new(deleteOptions)
	for _, opt := range opts {
		if opt != nil {
			opt.applyDelete(o)
		}
	}
	return *o
}

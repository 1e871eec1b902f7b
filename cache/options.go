package cache

import (
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Per-call options follow one idiom across the SDK: a call's options are an
// interface with one unexported method, so an option valid on several
// calls is one value whose type has each call's method.

// PolicyOption qualifies AttachPolicy and DetachPolicy.
type PolicyOption interface{ applyPolicy(*policyOptions) }

type policyOptions struct{ fence *transport.Fence }

// FenceOption is WithFence's option, valid on AttachPolicy and DetachPolicy.
type FenceOption struct{ f transport.Fence }

func (o FenceOption) applyPolicy(p *policyOptions) { p.fence = &o.f }

// WithFence makes an AttachPolicy or DetachPolicy conditional on a held
// lock: the server applies it only while f's lock is held with f's token,
// and otherwise changes nothing and answers ErrFenced (the message gives
// the current token). A refusal is definite and never retried.
func WithFence(f transport.Fence) FenceOption { return FenceOption{f} }

// policyFence validates the fence of a call, if any, and gives its wire form.
func policyFence(opts []PolicyOption) (*commonpb.Fence, error) {
	var o policyOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyPolicy(&o)
		}
	}
	if o.fence == nil {
		return nil, nil
	}
	if err := transport.CheckFence("fence", *o.fence); err != nil {
		return nil, err
	}
	return transport.FencePB(*o.fence), nil
}

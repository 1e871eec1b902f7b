package collections

import (
	"time"

	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// PushOption sets a per-message option of Queue.Push.
type PushOption interface{ applyPush(*pushOptions) }

type pushOptions struct {
	id    string
	delay *time.Duration
	attrs map[string]string
	fence *transport.Fence // WithFence's
}

type pushFunc func(*pushOptions)

func (f pushFunc) applyPush(o *pushOptions) { f(o) }

// WithID sets the message id. A push repeating an id within the queue's
// dedupe window stores nothing and reports Duplicate. Without it the SDK
// makes a random id, so a push retried after a lost reply is stored once.
func WithID(id string) PushOption { return pushFunc(func(o *pushOptions) { o.id = id }) }

// WithDelay holds the message back for d before it can be popped,
// overriding the queue's default delay (0: ready at once).
func WithDelay(d time.Duration) PushOption {
	return pushFunc(func(o *pushOptions) { o.delay = &d })
}

// WithAttributes attaches free-form attributes, handed back on pop.
func WithAttributes(attrs map[string]string) PushOption {
	return pushFunc(func(o *pushOptions) { o.attrs = attrs })
}

// PopOption sets an option of Queue.Pop and Queue.PopBatch.
type PopOption interface{ applyPop(*popOptions) }

type popOptions struct {
	visibility *time.Duration
}

type popFunc func(*popOptions)

func (f popFunc) applyPop(o *popOptions) { f(o) }

// WithVisibilityTimeout hides the popped messages for d instead of the
// queue's default visibility timeout.
func WithVisibilityTimeout(d time.Duration) PopOption {
	return popFunc(func(o *popOptions) { o.visibility = &d })
}

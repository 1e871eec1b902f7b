package kv

import (
	"context"
	"iter"
	"sync/atomic"

	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Event is one watch event. It is comparable, and its zero value means the
// watch has ended. Exactly one field is set:
//   - Put: a value was stored;
//   - Delete: the key was deleted, purged or expired (see Delete.Operation);
//   - InitialDone: every initial value (or history entry) has been
//     delivered; what follows are live changes. It comes once per Watch.
type Event struct {
	Put         *Entry
	Delete      *Entry
	InitialDone bool
}

// Entry returns the event's entry (Put or Delete), or nil.
func (e Event) Entry() *Entry {
	if e.Put != nil {
		return e.Put
	}
	return e.Delete
}

// watchBuffer is how many events a watcher holds for a slow reader before
// the stream's flow control pushes back on the server.
const watchBuffer = 64

// Watcher delivers the events of one watch. When its stream drops (server
// restart, network failure) it rebinds from the last revision it delivered,
// so the caller sees no gap and no duplicate. A watcher that falls further
// behind than the server keeps for it ends with an error matching
// transport.ErrCompacted, after the events up to where it fell behind:
// never with a gap. A reader that stops reading costs the server little:
// the watcher buffers 64 events, gRPC's flow control then holds the server
// back, which keeps at most one bounded batch for it (its
// Limits.SubscriptionBuffer, default 256 events and 1 MiB) and goes on
// serving writers and other watchers; when the reader reads again it gets
// every change from where it stopped, in order, once, as long as the
// server still keeps them. It ends as every SDK iterator does (see the transport
// package doc, # Iterators): Next returns the zero Event and a non-nil
// error saying why. Call Stop when done.
type Watcher struct {
	p   *transport.Pump[Event]
	rev atomic.Uint64
}

// Watch watches the keys matching pattern ("*" one token, final ">" one or
// more; ">" every key). It returns once the server has answered, so a
// missing bucket fails here with ErrNotFound.
func (b *Bucket) Watch(ctx context.Context, pattern string, opts ...WatchOption) (*Watcher, error) {
	if err := checkPattern(pattern); err != nil {
		return nil, err
	}
	var o watchOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyWatch(&o)
		}
	}
	w := &Watcher{}
	var (
		received    bool // a message arrived: rebinds resume from w.rev
		initialDone bool
		// withInitial: the watch has an initial phase (each key's latest
		// entry, or the retained history), so a rebind inside it asks for
		// the rest of that rather than every change since.
		withInitial = !o.updatesOnly && o.resumeFrom == 0
	)
	if o.resumeFrom > 0 {
		w.rev.Store(o.resumeFrom)
		received = true
	}
	open := func(ctx context.Context) (transport.Receiver[kvpb.KVServiceWatchResponse], error) {
		req := &kvpb.KVServiceWatchRequest{Bucket: b.name, Pattern: pattern, IncludeHistory: o.history,
			UpdatesOnly: o.updatesOnly, IgnoreDeletes: o.ignoreDeletes}
		if received {
			req.Resume, req.ResumeFromRevision = true, w.rev.Load()
			req.ResumeInitial = !initialDone && withInitial
			req.UpdatesOnly = false
		}
		return b.c.rpc.Watch(ctx, req)
	}
	handle := func(m *kvpb.KVServiceWatchResponse, emit func(Event) error) error {
		if err := transport.ServerError(m.GetResult()); err != nil {
			return err
		}
		var ev Event
		switch e := m.GetEntry(); {
		case m.GetInitialDone():
			if !initialDone {
				initialDone = true
				ev.InitialDone = true
			}
		case e != nil:
			if e.GetRevision() <= w.rev.Load() && received {
				break // already delivered before a rebind
			}
			if e.GetOperation() == kvpb.KVOperation_KV_OPERATION_PUT {
				ev.Put = entryFromPB(e)
			} else {
				ev.Delete = entryFromPB(e)
			}
		}
		// The resume point moves before the event is handed on, so a caller
		// that has the event from Next also sees it in Revision. A rebind
		// cannot skip it: emit fails only when the pump is ending, and then
		// nothing rebinds.
		if r := m.GetRevision(); r > w.rev.Load() {
			w.rev.Store(r)
		}
		received = true
		if ev != (Event{}) {
			return emit(ev)
		}
		return nil
	}
	p, err := transport.StartPump(ctx, b.c.conn, transport.PumpConfig{Buffer: watchBuffer, AwaitFirst: true}, open, handle)
	if err != nil {
		return nil, err
	}
	w.p = p
	return w, nil
}

// WatchAll watches every key of the bucket.
func (b *Bucket) WatchAll(ctx context.Context, opts ...WatchOption) (*Watcher, error) {
	return b.Watch(ctx, ">", opts...)
}

// Next returns the next event. After the watch has ended it returns the
// zero Event and why: io.EOF after Stop, the context's error when the
// context given to Watch ended, ErrClosed when the Client was closed,
// ErrNotFound when the bucket was deleted, ErrCompacted when the watcher
// fell further behind than the server keeps.
func (w *Watcher) Next() (Event, error) { return w.p.Next() }

// Revision is the resume point: every selected change up to this bucket
// revision has been handed to Next's caller, or is buffered for it. Once
// Next has returned an event, Revision is at least that event's revision.
func (w *Watcher) Revision() uint64 { return w.rev.Load() }

// Stop ends the watch and waits for its stream to close. Next then returns
// the zero Event and io.EOF. Safe to call more than once and from any
// goroutine.
func (w *Watcher) Stop() { w.p.Stop() }

// All ranges over the events until the watch ends; breaking out of the loop
// stops the watcher. An error that ended the watch (other than io.EOF) is
// yielded once, last.
func (w *Watcher) All() iter.Seq2[Event, error] { return w.p.All() }

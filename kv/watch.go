package kv

import (
	"context"
	"iter"
	"sync"
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

// WatchOption qualifies a watch.
type WatchOption func(*watchOpts)

type watchOpts struct {
	history, updatesOnly, ignoreDeletes bool
	resumeFrom                          uint64
}

// IncludeHistory delivers every retained entry of the matching keys first,
// instead of only their latest ones.
func IncludeHistory() WatchOption { return func(o *watchOpts) { o.history = true } }

// UpdatesOnly delivers no initial values: InitialDone comes first, then
// changes made after the watch started.
func UpdatesOnly() WatchOption { return func(o *watchOpts) { o.updatesOnly = true } }

// IgnoreDeletes leaves delete, purge and expiry markers out.
func IgnoreDeletes() WatchOption { return func(o *watchOpts) { o.ignoreDeletes = true } }

// ResumeFromRevision delivers, instead of initial values, every change with
// a revision above rev, then live changes: pass a Watcher's Revision to pick
// up where it stopped. When the server no longer keeps all of those changes
// (see the package doc), Watch fails with an error matching
// transport.ErrCompacted, whose message names the revision it can resume
// from; a Watch without this option starts over from the current values.
func ResumeFromRevision(rev uint64) WatchOption { return func(o *watchOpts) { o.resumeFrom = rev } }

// watchBuffer is how many events a watcher holds for a slow reader before
// the stream's flow control pushes back on the server.
const watchBuffer = 64

// Watcher delivers the events of one watch. When its stream drops (server
// restart, network failure) it rebinds from the last revision it delivered,
// so the caller sees no gap and no duplicate. A watcher that falls further
// behind than the server keeps for it ends with an error matching
// transport.ErrCompacted, after the events up to where it fell behind:
// never with a gap. Call Stop when done.
type Watcher struct {
	ch       chan Event
	done     chan struct{} // closed when the background goroutine has ended
	ready    chan struct{} // closed on the first message or the end
	err      error         // why the watch ended; set before ch is closed
	startErr error         // the error that ended it before any message
	cancel   context.CancelFunc
	stopped  atomic.Bool
	rev      atomic.Uint64
	once     sync.Once
}

// Watch watches the keys matching pattern ("*" one token, final ">" one or
// more; ">" every key). It returns once the server has answered, so a
// missing bucket fails here with ErrNotFound.
func (b *Bucket) Watch(ctx context.Context, pattern string, opts ...WatchOption) (*Watcher, error) {
	if err := checkPattern(pattern); err != nil {
		return nil, err
	}
	var o watchOpts
	for _, opt := range opts {
		opt(&o)
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &Watcher{
		ch:     make(chan Event, watchBuffer),
		done:   make(chan struct{}),
		ready:  make(chan struct{}),
		cancel: cancel,
	}
	if !b.c.conn.Go(func(context.Context) { w.run(wctx, ctx, b, pattern, o) }) {
		cancel()
		return nil, transport.ErrClosed
	}
	<-w.ready
	if w.startErr != nil {
		<-w.done
		cancel()
		return nil, w.startErr
	}
	return w, nil
}

// WatchAll watches every key of the bucket.
func (b *Bucket) WatchAll(ctx context.Context, opts ...WatchOption) (*Watcher, error) {
	return b.Watch(ctx, ">", opts...)
}

func (w *Watcher) run(ctx, userCtx context.Context, b *Bucket, pattern string, o watchOpts) {
	defer close(w.done)
	// Closing the Conn must end the watch even while it waits for a slow
	// reader to make room.
	ctx, unbind := b.c.conn.Bind(ctx)
	defer unbind()
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
	handle := func(m *kvpb.KVServiceWatchResponse) error {
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
		if ev != (Event{}) {
			select {
			case w.ch <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// The revision only moves once the event is in the caller's hands,
		// so a rebind resumes exactly after it.
		if r := m.GetRevision(); r > w.rev.Load() {
			w.rev.Store(r)
		}
		received = true
		w.once.Do(func() { close(w.ready) })
		return nil
	}
	err := transport.Follow(ctx, b.c.conn, open, handle)
	switch {
	case w.stopped.Load(), userCtx.Err() != nil:
		err = nil // the caller ended it
	case err == nil:
		err = transport.ErrClosed
	}
	w.once.Do(func() {
		w.startErr = err
		if err == nil {
			w.startErr = transport.MapError(userCtx, context.Canceled)
		}
		close(w.ready)
	})
	w.err = err
	close(w.ch)
}

// Next returns the next event. After the watch has ended it returns the
// zero Event: with a nil error when the caller ended it (Stop, or the
// context given to Watch ended), otherwise with the reason (ErrClosed when
// the Client was closed, ErrNotFound when the bucket was deleted,
// ErrCompacted when the watcher fell further behind than the server keeps).
func (w *Watcher) Next() (Event, error) {
	if w.stopped.Load() {
		return Event{}, nil
	}
	ev, ok := <-w.ch
	if !ok {
		return Event{}, w.err
	}
	return ev, nil
}

// Revision is the resume point: every selected change up to this bucket
// revision has been handed to Next's caller (or is buffered for it).
func (w *Watcher) Revision() uint64 { return w.rev.Load() }

// Stop ends the watch and waits for its stream to close. Next then returns
// the zero Event and nil. Safe to call more than once and from any
// goroutine.
func (w *Watcher) Stop() {
	w.stopped.Store(true)
	w.cancel()
	<-w.done
}

// All ranges over the events until the watch ends; breaking out of the loop
// stops the watcher. An error that ended the watch is yielded last.
func (w *Watcher) All() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		defer w.Stop()
		for {
			ev, err := w.Next()
			if ev == (Event{}) {
				if err != nil {
					yield(ev, err)
				}
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

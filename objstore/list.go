package objstore

import (
	"context"
	"io"
	"iter"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// pump runs a transport.Follow loop on a Conn-owned goroutine and hands
// what it yields to a Next-style consumer through a small buffer, so a slow
// consumer holds the stream back instead of growing memory.
type pump[T any] struct {
	ch     chan T
	final  error // set before ch is closed
	exited chan struct{}
	cancel context.CancelFunc
	err    error
}

func startPump[T any](ctx context.Context, conn *transport.Conn, run func(ctx context.Context, emit func(T) error) error) (*pump[T], error) {
	ctx, cancel := context.WithCancel(ctx)
	p := &pump[T]{ch: make(chan T, 16), exited: make(chan struct{}), cancel: cancel}
	emit := func(v T) error {
		select {
		case p.ch <- v:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ok := conn.Go(func(context.Context) {
		defer close(p.exited)
		defer close(p.ch)
		err := run(ctx, emit)
		if err == nil {
			err = io.EOF
		}
		p.final = err
	})
	if !ok {
		cancel()
		return nil, transport.ErrClosed
	}
	return p, nil
}

func (p *pump[T]) next() (T, error) {
	var zero T
	if p.err != nil {
		return zero, p.err
	}
	v, ok := <-p.ch
	if !ok {
		p.err = p.final
		return zero, p.err
	}
	return v, nil
}

func (p *pump[T]) stop() {
	p.cancel()
	<-p.exited
	if p.err == nil {
		p.err = io.EOF
	}
}

func all[T any](next func() (T, error), stop func()) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		defer stop()
		for {
			v, err := next()
			if err == io.EOF {
				return
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

// ListOptions select what List answers.
type ListOptions struct {
	// IncludeDeleted lists deleted markers too.
	IncludeDeleted bool
	// StartAfter lists only names that sort after it.
	StartAfter string
}

// Lister iterates over a store's objects in name order. Stop it when done
// early; reading it to the end stops it.
type Lister struct{ p *pump[ObjectInfo] }

// List iterates over the store's objects in name order, streaming them in
// batches; a dropped stream resumes after the last name received.
func (s *Store) List(ctx context.Context, opts ...ListOptions) (*Lister, error) {
	var o ListOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.StartAfter != "" {
		if err := validObjectName("StartAfter", o.StartAfter); err != nil {
			return nil, err
		}
	}
	after := o.StartAfter
	p, err := startPump(ctx, s.c.conn, func(ctx context.Context, emit func(ObjectInfo) error) error {
		open := func(ctx context.Context) (transport.Receiver[objstorepb.ObjectStoreServiceListResponse], error) {
			return s.c.rpc.List(ctx, &objstorepb.ObjectStoreServiceListRequest{Store: s.name, StartAfter: after, IncludeDeleted: o.IncludeDeleted})
		}
		return transport.Follow(ctx, s.c.conn, open, func(m *objstorepb.ObjectStoreServiceListResponse) error {
			if err := transport.ServerError(m.GetResult()); err != nil {
				return err
			}
			for _, pi := range m.GetObjects() {
				if err := emit(infoFromPB(pi)); err != nil {
					return err
				}
				after = pi.GetName()
			}
			if m.GetDone() {
				return transport.ErrStreamDone
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return &Lister{p: p}, nil
}

// Next returns the next object's info; io.EOF after the last.
func (l *Lister) Next() (ObjectInfo, error) { return l.p.next() }

// Stop ends the listing early and releases its stream.
func (l *Lister) Stop() { l.p.stop() }

// All ranges over the listing; it stops the Lister when the loop ends.
func (l *Lister) All() iter.Seq2[ObjectInfo, error] { return all(l.Next, l.Stop) }

// Objects returns every object's info (IncludeDeleted lists markers too).
func (s *Store) Objects(ctx context.Context, opts ...ListOptions) ([]ObjectInfo, error) {
	l, err := s.List(ctx, opts...)
	if err != nil {
		return nil, err
	}
	var out []ObjectInfo
	for info, err := range l.All() {
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// WatchOptions select what Watch delivers.
type WatchOptions struct {
	// UpdatesOnly skips the current objects: only changes after the watch
	// starts are delivered.
	UpdatesOnly bool
	// IgnoreDeletes skips deleted markers.
	IgnoreDeletes bool
	// ResumeFromRevision, when non-zero, skips the current objects and
	// delivers every change with a later revision, then live changes. When
	// the server no longer keeps all of those changes, Watch ends with an
	// error matching transport.ErrCompacted naming the revision it can
	// resume from.
	ResumeFromRevision uint64
}

// WatchEvent is one thing a Watcher delivers: a changed object, or the
// marker saying every current object has been delivered.
type WatchEvent struct {
	// Info is the changed object's info (Deleted for a delete); zero on the
	// marker.
	Info ObjectInfo
	// InitialDone is true on the one marker event, delivered after the
	// current objects (or the resumed backlog).
	InitialDone bool
	// Revision is the store revision up to which every change has been
	// delivered: pass it as ResumeFromRevision to continue later.
	Revision uint64
}

// Watcher delivers a store's changes in revision order, each exactly once:
// every version of an object and every deleted marker, even when a later
// change replaced it before the watcher got there. It rebinds a dropped
// stream from the last revision delivered. A watcher that falls further
// behind than the server keeps for it (the reference server: each store's
// last 10,000 changes) ends with an error matching transport.ErrCompacted
// after the changes up to there, never with a gap. Stop it when done.
type Watcher struct{ p *pump[WatchEvent] }

// Watch delivers the store's current objects, a marker, then every change.
func (s *Store) Watch(ctx context.Context, opts ...WatchOptions) (*Watcher, error) {
	var o WatchOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	rev := o.ResumeFromRevision
	marked := false
	p, err := startPump(ctx, s.c.conn, func(ctx context.Context, emit func(WatchEvent) error) error {
		open := func(ctx context.Context) (transport.Receiver[objstorepb.ObjectStoreServiceWatchResponse], error) {
			return s.c.rpc.Watch(ctx, &objstorepb.ObjectStoreServiceWatchRequest{
				Store: s.name, UpdatesOnly: o.UpdatesOnly, IgnoreDeletes: o.IgnoreDeletes, ResumeFromRevision: rev,
			})
		}
		return transport.Follow(ctx, s.c.conn, open, func(m *objstorepb.ObjectStoreServiceWatchResponse) error {
			if err := transport.ServerError(m.GetResult()); err != nil {
				return err
			}
			if m.GetInitialDone() {
				rev = max(rev, m.GetRevision())
				if marked { // a rebound stream marks its backlog again
					return nil
				}
				marked = true
				return emit(WatchEvent{InitialDone: true, Revision: m.GetRevision()})
			}
			if m.GetInfo() == nil || marked && m.GetRevision() <= rev {
				return nil // delivered before a rebind
			}
			rev = max(rev, m.GetRevision())
			return emit(WatchEvent{Info: infoFromPB(m.GetInfo()), Revision: m.GetRevision()})
		})
	})
	if err != nil {
		return nil, err
	}
	return &Watcher{p: p}, nil
}

// Next blocks until the next event; it fails when the watch ends (ctx
// ended, Stop, the store deleted).
func (w *Watcher) Next() (WatchEvent, error) { return w.p.next() }

// Stop ends the watch and releases its stream.
func (w *Watcher) Stop() { w.p.stop() }

// All ranges over the events; it stops the Watcher when the loop ends.
func (w *Watcher) All() iter.Seq2[WatchEvent, error] { return all(w.Next, w.Stop) }

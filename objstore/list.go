package objstore

import (
	"context"
	"iter"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Lister iterates over a store's objects in name order. It ends as every
// SDK iterator does (see the transport package doc, # Iterators): after the
// last object Next returns a zero ObjectInfo and io.EOF. Stop it when done
// early.
type Lister struct{ p *transport.Pump[ObjectInfo] }

// List iterates over the store's objects in name order, streaming them in
// batches; a dropped stream resumes after the last name received.
func (s *Store) List(ctx context.Context, opts ...ListOption) (*Lister, error) {
	var o listOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyList(&o)
		}
	}
	if o.startAfter != "" {
		if err := validObjectName("StartAfter", o.startAfter); err != nil {
			return nil, err
		}
	}
	after := o.startAfter
	open := func(ctx context.Context) (transport.Receiver[objstorepb.ObjectStoreServiceListResponse], error) {
		return s.c.rpc.List(ctx, &objstorepb.ObjectStoreServiceListRequest{Store: s.name, StartAfter: after, IncludeDeleted: o.includeDeleted})
	}
	p, err := transport.StartPump(ctx, s.c.conn, transport.PumpConfig{}, open, func(m *objstorepb.ObjectStoreServiceListResponse, emit func(ObjectInfo) error) error {
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
	if err != nil {
		return nil, err
	}
	return &Lister{p: p}, nil
}

// Next returns the next object's info. After the last it returns a zero
// ObjectInfo and io.EOF; after a failure, a zero ObjectInfo and the error.
func (l *Lister) Next() (ObjectInfo, error) { return l.p.Next() }

// Stop ends the listing early and releases its stream.
func (l *Lister) Stop() { l.p.Stop() }

// All ranges over the listing; it stops the Lister when the loop ends. An
// error that ended the listing (other than io.EOF) is yielded once, last.
func (l *Lister) All() iter.Seq2[ObjectInfo, error] { return l.p.All() }

// Objects returns every object's info (IncludeDeleted lists markers too).
func (s *Store) Objects(ctx context.Context, opts ...ListOption) ([]ObjectInfo, error) {
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
	// delivered: pass it to ResumeFromRevision to continue later.
	Revision uint64
}

// Watcher delivers a store's changes in revision order, each exactly once:
// every version of an object and every deleted marker, even when a later
// change replaced it before the watcher got there. It rebinds a dropped
// stream from the last revision delivered. A watcher that falls further
// behind than the server keeps for it (the reference server: each store's
// last 10,000 changes) ends with an error matching transport.ErrCompacted
// after the changes up to there, never with a gap. It ends as every SDK
// iterator does (see the transport package doc, # Iterators): Next returns
// a zero WatchEvent and a non-nil error saying why. Stop it when done.
type Watcher struct{ p *transport.Pump[WatchEvent] }

// Watch delivers the store's current objects, a marker, then every change.
func (s *Store) Watch(ctx context.Context, opts ...WatchOption) (*Watcher, error) {
	var o watchOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyWatch(&o)
		}
	}
	rev := o.resumeFrom
	marked := false
	open := func(ctx context.Context) (transport.Receiver[objstorepb.ObjectStoreServiceWatchResponse], error) {
		return s.c.rpc.Watch(ctx, &objstorepb.ObjectStoreServiceWatchRequest{
			Store: s.name, UpdatesOnly: o.updatesOnly, IgnoreDeletes: o.ignoreDeletes, ResumeFromRevision: rev,
		})
	}
	p, err := transport.StartPump(ctx, s.c.conn, transport.PumpConfig{}, open, func(m *objstorepb.ObjectStoreServiceWatchResponse, emit func(WatchEvent) error) error {
		if err := transport.ServerError(m.GetResult()); err != nil {
			return err
		}
		if m.GetInitialDone() {
			if marked { // a rebound stream marks its backlog again
				rev = max(rev, m.GetRevision())
				return nil
			}
			if err := emit(WatchEvent{InitialDone: true, Revision: m.GetRevision()}); err != nil {
				return err
			}
			marked = true
			rev = max(rev, m.GetRevision())
			return nil
		}
		if m.GetInfo() == nil || marked && m.GetRevision() <= rev {
			return nil // delivered before a rebind
		}
		if err := emit(WatchEvent{Info: infoFromPB(m.GetInfo()), Revision: m.GetRevision()}); err != nil {
			return err
		}
		rev = max(rev, m.GetRevision())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Watcher{p: p}, nil
}

// Next blocks until the next event. After the watch has ended it returns a
// zero WatchEvent and why: io.EOF after Stop, the error of the context
// given to Watch, ErrClosed, ErrNotFound when the store was deleted,
// ErrCompacted.
func (w *Watcher) Next() (WatchEvent, error) { return w.p.Next() }

// Stop ends the watch and releases its stream.
func (w *Watcher) Stop() { w.p.Stop() }

// All ranges over the events; it stops the Watcher when the loop ends. An
// error that ended the watch (other than io.EOF) is yielded once, last.
func (w *Watcher) All() iter.Seq2[WatchEvent, error] { return w.p.All() }

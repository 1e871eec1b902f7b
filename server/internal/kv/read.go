package kv

import (
	"sort"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Reads: the API layer answers these from the leader's state under the
// read lock, without going through raft. Returned entries are shared and
// immutable: callers must not modify them.

// Info answers a bucket's configuration and status.
func (m *Machine) Info(name string) (*kvpb.KVBucketInfo, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := m.buckets[name]
	if b == nil {
		return nil, false
	}
	return b.info(), true
}

// MaxValueSize answers a bucket's value limit.
func (m *Machine) MaxValueSize(name string) (int64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := m.buckets[name]
	if b == nil {
		return 0, false
	}
	return b.cfg.MaxValueSize, true
}

// List answers up to limit buckets whose names sort after `after`, and
// whether more follow.
func (m *Machine) List(after string, limit int) ([]*kvpb.KVBucketInfo, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.buckets))
	for n := range m.buckets {
		if n > after {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	more := len(names) > limit
	if more {
		names = names[:limit]
	}
	out := make([]*kvpb.KVBucketInfo, len(names))
	for i, n := range names {
		out[i] = m.buckets[n].info()
	}
	return out, more
}

func bucketNotFound(name string) *commonpb.Result {
	return result.Failf(result.CodeNotFound, "bucket %q does not exist", name)
}

// Get answers a key's latest entry (rev 0) or its PUT entry at rev.
func (m *Machine) Get(bucket, key string, rev uint64) (*kvpb.KVEntry, *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := m.buckets[bucket]
	if b == nil {
		return nil, bucketNotFound(bucket)
	}
	if k := b.keys[key]; k != nil {
		if rev == 0 {
			if e := k.hist[len(k.hist)-1]; e.pb.Operation == kvpb.KVOperation_KV_OPERATION_PUT {
				return e.pb, nil
			}
		} else {
			for _, e := range k.hist {
				if e.pb.Revision == rev && e.pb.Operation == kvpb.KVOperation_KV_OPERATION_PUT {
					return e.pb, nil
				}
			}
		}
	}
	if rev != 0 {
		return nil, result.Failf(result.CodeNotFound, "key %q has no value at revision %d", key, rev)
	}
	return nil, result.Failf(result.CodeNotFound, "key %q not found", key)
}

// Keys answers the live keys matching pattern that sort after startAfter,
// in order.
func (m *Machine) Keys(bucket, pattern, startAfter string) ([]string, *commonpb.Result) {
	out, res := m.keys(bucket, pattern, startAfter)
	sort.Strings(out) // outside the lock, as WatchStart's sort
	return out, res
}

// keys is Keys under the read lock, in no order.
func (m *Machine) keys(bucket, pattern, startAfter string) ([]string, *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := m.buckets[bucket]
	if b == nil {
		return nil, bucketNotFound(bucket)
	}
	var out []string
	if literal(pattern) {
		if k := b.keys[pattern]; k != nil && k.live() && pattern > startAfter {
			out = append(out, pattern)
		}
		return out, nil
	}
	for key, k := range b.keys {
		if key > startAfter && k.live() && Match(pattern, key) {
			out = append(out, key)
		}
	}
	return out, nil
}

func (k *keyState) live() bool {
	return k.hist[len(k.hist)-1].pb.Operation == kvpb.KVOperation_KV_OPERATION_PUT
}

// History answers a key's retained entries above after, oldest first.
func (m *Machine) History(bucket, key string, after uint64) ([]*kvpb.KVEntry, *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := m.buckets[bucket]
	if b == nil {
		return nil, bucketNotFound(bucket)
	}
	k := b.keys[key]
	if k == nil {
		return nil, result.Failf(result.CodeNotFound, "key %q has no history", key)
	}
	out := make([]*kvpb.KVEntry, 0, len(k.hist))
	for _, e := range k.hist {
		if e.pb.Revision > after {
			out = append(out, e.pb)
		}
	}
	return out, nil
}

// Filter selects what a watch delivers.
type Filter struct {
	Pattern       string
	IgnoreDeletes bool
}

func (f *Filter) wants(e *entry) bool {
	if f.IgnoreDeletes && e.pb.Operation != kvpb.KVOperation_KV_OPERATION_PUT {
		return false
	}
	return Match(f.Pattern, e.pb.Key)
}

// StartMode selects what a watch delivers before its marker.
type StartMode int

const (
	// StartLatest: each matching key's latest retained entry above the
	// revision (the initial values, or the rest of them on a rebind).
	StartLatest StartMode = iota
	// StartHistory: every retained matching entry above the revision.
	StartHistory
	// StartChanges: every matching change above the revision, whether the
	// history still retains it or not (a resumed watch's backlog); answers
	// compacted when some of them are no longer kept.
	StartChanges
)

// WatchStart answers what a watch delivers before its marker, in revision
// order (see StartMode). It also answers the bucket's id (to tell a
// recreated bucket apart) and its revision, which is the resume point once
// these are delivered. A resume point above the bucket's revision answers
// not_found: the bucket it came from was deleted (and created again).
func (m *Machine) WatchStart(bucket string, f Filter, after uint64, mode StartMode) (id uint64, out []*kvpb.KVEntry, rev uint64, res *commonpb.Result) {
	id, out, rev, sorted, res := m.watchStart(bucket, f, after, mode)
	if !sorted {
		// Outside the lock: the latest values of a whole bucket come from
		// its key map in no order, and sorting a large bucket's under the
		// read lock would hold every write back for as long. Entries are
		// never changed once made, so the sort needs no lock.
		sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	}
	return id, out, rev, res
}

// watchStart is WatchStart under the read lock; sorted is false when out
// still has to be put in revision order.
func (m *Machine) watchStart(bucket string, f Filter, after uint64, mode StartMode) (id uint64, out []*kvpb.KVEntry, rev uint64, sorted bool, res *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := m.buckets[bucket]
	if b == nil {
		return 0, nil, 0, true, bucketNotFound(bucket)
	}
	if mode == StartChanges && after > b.rev {
		return 0, nil, 0, true, result.Failf(result.CodeNotFound, "bucket %q is at revision %d, below the resume point %d: the bucket watched was deleted", bucket, b.rev, after)
	}
	if after >= b.rev {
		return b.id, nil, b.rev, true, nil
	}
	switch mode {
	case StartLatest:
		add := func(k *keyState) {
			if e := k.hist[len(k.hist)-1]; e.pb.Revision > after && f.wants(e) {
				out = append(out, e.pb)
			}
		}
		if literal(f.Pattern) {
			if k := b.keys[f.Pattern]; k != nil {
				add(k)
			}
			return b.id, out, b.rev, true, nil
		}
		out = make([]*kvpb.KVEntry, 0, len(b.keys)) // one latest entry per key at most
		for _, k := range b.keys {
			add(k)
		}
		return b.id, out, b.rev, false, nil
	case StartHistory:
		out, rev = b.since(f, after, 0, nil)
		return b.id, out, rev, true, nil
	default:
		out, rev, res = m.changesSince(b, f, after, 0, 0, nil)
		if res != nil {
			return 0, nil, 0, true, res
		}
		return b.id, out, rev, true, nil
	}
}

// WatchNext answers up to max matching changes above after, appended to
// buf, and the resume point once they are delivered. It answers not_found
// when the bucket is gone or is no longer the bucket with id, and
// compacted when changes above after are no longer kept (the watcher fell
// further behind than the change log holds).
func (m *Machine) WatchNext(bucket string, id uint64, f Filter, after uint64, max int, buf []*kvpb.KVEntry) ([]*kvpb.KVEntry, uint64, *commonpb.Result) {
	return m.WatchNextBytes(bucket, id, f, after, max, 0, buf)
}

// WatchNextBytes is WatchNext whose batch is also bounded by bytes: past its
// first change it holds at most maxBytes of keys and values (0: no bound), so
// what a watch holds for a slow reader is bounded by count and by size.
func (m *Machine) WatchNextBytes(bucket string, id uint64, f Filter, after uint64, max int, maxBytes int64, buf []*kvpb.KVEntry) ([]*kvpb.KVEntry, uint64, *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	b := m.buckets[bucket]
	if b == nil || b.id != id {
		return buf, 0, result.Failf(result.CodeNotFound, "bucket %q was deleted", bucket)
	}
	return m.changesSince(b, f, after, max, maxBytes, buf)
}

// since collects retained matching entries above after in revision order,
// at most max (0: no limit), and answers the revision up to which the
// bucket has been scanned.
func (b *bucket) since(f Filter, after uint64, max int, out []*kvpb.KVEntry) ([]*kvpb.KVEntry, uint64) {
	if after >= b.rev {
		return out, b.rev
	}
	if literal(f.Pattern) {
		// One key: its history is short and already in revision order.
		if k := b.keys[f.Pattern]; k != nil {
			for _, e := range k.hist {
				if e.pb.Revision > after && f.wants(e) {
					if max > 0 && len(out) == max {
						return out, e.pb.Revision - 1
					}
					out = append(out, e.pb)
				}
			}
		}
		return out, b.rev
	}
	log := b.log[b.head:]
	i := sort.Search(len(log), func(i int) bool { return log[i].pb.Revision > after })
	for ; i < len(log); i++ {
		e := log[i]
		if e.removed || !f.wants(e) {
			continue
		}
		if max > 0 && len(out) == max {
			return out, e.pb.Revision - 1
		}
		out = append(out, e.pb)
	}
	return out, b.rev
}

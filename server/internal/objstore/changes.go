package objstore

import (
	"cmp"
	"slices"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// The change log: what watches are served from. A store keeps only each
// name's latest info, so a watcher that lags behind would find an
// overwritten version, or a deleted marker that expired, gone and skip it.
// Each store therefore also keeps the infos of its most recent changes, one
// per revision, bounded in count. A watcher whose resume point is older
// than what the log and the current infos can still give in full is told
// "compacted", never served with a gap.

// DefaultWatchBacklog is how many of a store's latest changes are kept
// for its watchers unless SetWatchBacklog says otherwise.
const DefaultWatchBacklog = 10000

// SetWatchBacklog bounds each store's change log to its last n changes
// (n <= 0: the default). Call it before the machine is used.
func (m *Machine) SetWatchBacklog(n int) {
	if n <= 0 {
		n = DefaultWatchBacklog
	}
	m.mu.Lock()
	m.backlog = n
	m.mu.Unlock()
}

// changeLog holds consecutive revisions: log[head:] is first()..store rev.
type changeLog struct {
	log  []*objstorepb.ObjectInfo
	head int
}

func (c *changeLog) len() int { return len(c.log) - c.head }

// from answers the lowest revision held; rev+1 when empty.
func (c *changeLog) from(rev uint64) uint64 {
	if c.len() == 0 {
		return rev + 1
	}
	return c.log[c.head].GetRevision()
}

// current reports whether info is still its name's latest.
func (s *store) current(info *objstorepb.ObjectInfo) bool {
	o := s.objects[info.GetName()]
	return o != nil && o.info == info
}

// record adds the info of the store's newest revision to its change log,
// evicting beyond the bound; an evicted info that is no longer current is
// a hole: no watch can resume before it.
func (m *Machine) record(s *store, info *objstorepb.ObjectInfo) {
	c := &s.changes
	c.log = append(c.log, info)
	for c.len() > max(m.backlog, 1) {
		old := c.log[c.head]
		c.log[c.head] = nil
		c.head++
		if !s.current(old) {
			s.hole = max(s.hole, old.GetRevision())
		}
	}
	if c.head > 1024 && c.head > c.len() {
		c.log = append([]*objstorepb.ObjectInfo(nil), c.log[c.head:]...)
		c.head = 0
	}
}

// superseded notes that o is no longer its name's latest: when the change
// log does not hold it either, it is a hole.
func (s *store) superseded(o *object) {
	if o == nil {
		return
	}
	if r := o.info.GetRevision(); r < s.changes.from(s.rev) {
		s.hole = max(s.hole, r)
	}
}

// restoredHole is the hole a store has once restored from a snapshot that
// does not carry its change log: the log's infos that are no longer
// current are lost too.
func (s *store) restoredHole() uint64 {
	h := s.hole
	for _, info := range s.changes.log[s.changes.head:] {
		if !s.current(info) {
			h = max(h, info.GetRevision())
		}
	}
	return h
}

// ChangesSince answers up to max (0: no limit) changes of a store above
// after, in revision order, deleted markers only with deleted, and the
// revision up to which the store has been scanned. Changes older than the
// change log come from the current infos when nothing after `after` was
// lost; otherwise it answers compacted.
func (m *Machine) ChangesSince(storeName string, after uint64, deleted bool, max int) ([]*objstorepb.ObjectInfo, uint64, *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.stores[storeName]
	if !ok {
		return nil, 0, result.Failf(result.CodeNotFound, "store %q", storeName)
	}
	if after >= s.rev {
		return nil, s.rev, nil
	}
	wants := func(info *objstorepb.ObjectInfo) bool { return deleted || !info.GetDeleted() }
	var out []*objstorepb.ObjectInfo
	from := s.changes.from(s.rev)
	if after+1 < from {
		if after < s.hole {
			return nil, 0, result.Failf(result.CodeCompacted,
				"store %q: the changes after revision %d are no longer all kept; a watch can resume from revision %d or later (the server keeps each store's last %d changes)",
				storeName, after, s.hole, m.backlog)
		}
		// Nothing above after was lost: every change below the log is
		// still some name's current info.
		var old []*objstorepb.ObjectInfo
		for _, o := range s.objects {
			if r := o.info.GetRevision(); r > after && r < from && wants(o.info) {
				old = append(old, o.info)
			}
		}
		slices.SortFunc(old, func(a, b *objstorepb.ObjectInfo) int { return cmp.Compare(a.GetRevision(), b.GetRevision()) })
		if max > 0 && len(old) > max {
			return old[:max], old[max].GetRevision() - 1, nil
		}
		out = old
		after = from - 1
	}
	c := &s.changes
	for i := c.head + int(after+1-from); i < len(c.log); i++ {
		info := c.log[i]
		if !wants(info) {
			continue
		}
		if max > 0 && len(out) == max {
			return out, info.GetRevision() - 1, nil
		}
		out = append(out, info)
	}
	return out, s.rev, nil
}

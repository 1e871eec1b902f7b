package kv

import (
	"sort"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// The change log: what watches are served from. History trims a key to its
// last entries, so a watcher that lags behind the writers would find the
// entries it has not reached yet gone and skip them. Each bucket therefore
// also keeps its most recent changes, one per revision whether or not the
// history still retains them, bounded by count and bytes. A watcher whose
// resume point is older than what the change log and the retained history
// can still give in full is told "compacted", never served with a gap.

// Default bounds of a bucket's change log.
const (
	DefaultWatchBacklog      = 10000
	DefaultWatchBacklogBytes = 64 << 20
)

const codeCompacted = "compacted"

// SetWatchBacklog bounds each bucket's change log to its last maxChanges
// changes and, of those, as many as fit in maxBytes of keys and values
// (the newest change is always kept). Zero or negative means the default.
// Call it before the machine is used; it does not apply to buckets that
// already exist until their next change.
func (m *Machine) SetWatchBacklog(maxChanges int, maxBytes int64) {
	if maxChanges <= 0 {
		maxChanges = DefaultWatchBacklog
	}
	if maxBytes <= 0 {
		maxBytes = DefaultWatchBacklogBytes
	}
	m.mu.Lock()
	m.maxChanges, m.maxChangeBytes = maxChanges, maxBytes
	m.mu.Unlock()
}

// changeLog is a bucket's most recent entries, consecutive revisions in
// order: log[head:] holds revisions first() .. the bucket's rev.
type changeLog struct {
	log   []*entry
	head  int
	bytes int64
}

func (c *changeLog) len() int { return len(c.log) - c.head }

// from answers the lowest revision the log holds; rev+1 when it is empty.
func (c *changeLog) from(rev uint64) uint64 {
	if c.len() == 0 {
		return rev + 1
	}
	return c.log[c.head].pb.Revision
}

// record adds the bucket's newest entry to its change log and evicts the
// oldest changes beyond the machine's bounds. An evicted change that the
// history no longer retains either is a hole: no watch can resume before it.
func (b *bucket) record(e *entry, maxChanges int, maxBytes int64) {
	c := &b.changes
	c.log = append(c.log, e)
	c.bytes += e.size()
	for c.len() > 1 && (c.len() > maxChanges || c.bytes > maxBytes) {
		old := c.log[c.head]
		c.log[c.head] = nil
		c.head++
		c.bytes -= old.size()
		if old.removed && old.pb.Revision > b.hole {
			b.hole = old.pb.Revision
		}
	}
	if c.head > 1024 && c.head > c.len() {
		c.log = append([]*entry(nil), c.log[c.head:]...)
		c.head = 0
	}
}

// forgot notes that the history dropped e: when the change log no longer
// holds it, it is a hole.
func (b *bucket) forgot(e *entry) {
	if r := e.pb.Revision; r < b.changes.from(b.rev) && r > b.hole {
		b.hole = r
	}
}

// compacted is the answer to a watch resuming from after when changes
// after it are lost.
func (b *bucket) compacted(after uint64, maxChanges int, maxBytes int64) *commonpb.Result {
	return result.Failf(codeCompacted, "bucket %q: the changes after revision %d are no longer all kept; a watch can resume from revision %d or later (the server keeps each bucket's last %d changes, at most %d bytes of them, besides its history)",
		b.cfg.Name, after, b.hole, maxChanges, maxBytes)
}

// changesSince collects the matching changes above after in revision order,
// at most max (0: no limit) and, past the first, at most maxBytes of keys
// and values (0: no limit), appended to out, and answers the revision up
// to which the bucket has been scanned. Changes older than the change log
// come from the retained history when it still holds all of them;
// otherwise it answers compacted.
func (m *Machine) changesSince(b *bucket, f Filter, after uint64, max int, maxBytes int64, out []*kvpb.KVEntry) ([]*kvpb.KVEntry, uint64, *commonpb.Result) {
	n0, bytes := len(out), int64(0)
	full := func(e *entry) bool {
		n := len(out) - n0
		return (max > 0 && n == max) || (maxBytes > 0 && n > 0 && bytes+e.size() > maxBytes)
	}
	if after >= b.rev {
		return out, b.rev, nil
	}
	from := b.changes.from(b.rev)
	if after+1 < from {
		if after < b.hole {
			return out, 0, b.compacted(after, m.maxChanges, m.maxChangeBytes)
		}
		// Every entry in (after, from) is retained: no hole lies above after.
		log := b.log[b.head:]
		i := sort.Search(len(log), func(i int) bool { return log[i].pb.Revision > after })
		for ; i < len(log) && log[i].pb.Revision < from; i++ {
			e := log[i]
			if e.removed || !f.wants(e) {
				continue
			}
			if full(e) {
				return out, e.pb.Revision - 1, nil
			}
			out = append(out, e.pb)
			bytes += e.size()
		}
		after = from - 1
	}
	c := &b.changes
	for i := c.head + int(after+1-from); i < len(c.log); i++ {
		e := c.log[i]
		if !f.wants(e) {
			continue
		}
		if full(e) {
			return out, e.pb.Revision - 1, nil
		}
		out = append(out, e.pb)
		bytes += e.size()
	}
	return out, b.rev, nil
}

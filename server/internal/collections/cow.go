package collections

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// cow shares the keys of hash and set stores with snapshot writers. A
// snapshot's cut takes the list of each store's keys (pointers to their
// hash or set) and a new generation; apply, before it changes a hash or a
// set made before the latest cut whose writer is still running, copies it
// (own), so the writer reads every key as it was at the cut. A key costs
// its copy once per snapshot, on its first change; with no snapshot being
// written the check is one length test.
type cow struct {
	gen  uint64     // generation of the latest cut: keys made or copied since carry it
	cuts []*cutDone // cuts whose writers are not done
}

type cutDone struct {
	gen  uint64
	done atomic.Bool
}

// shares reports whether a key of generation gen may be read by a writer
// still running. It drops the cuts whose writers are done.
func (c *cow) shares(gen uint64) bool {
	if len(c.cuts) == 0 {
		return false
	}
	c.cuts = slices.DeleteFunc(c.cuts, func(d *cutDone) bool { return d.done.Load() })
	for _, d := range c.cuts {
		if gen < d.gen {
			return true
		}
	}
	return false
}

func (c *cow) cut() *cutDone {
	c.gen++
	d := &cutDone{gen: c.gen}
	c.cuts = append(c.cuts, d)
	return d
}

// writeHash returns the hash at key for changing, copied first when a
// snapshot writer still reads it.
func (s *store) writeHash(key string) *hash {
	h := s.hashes[key]
	if h != nil && s.cow.shares(h.gen) {
		h = &hash{fields: maps.Clone(h.fields), ttls: h.ttls, gen: s.cow.gen}
		s.hashes[key] = h
	}
	return h
}

// writeSet is writeHash for a set.
func (s *store) writeSet(key string) *set {
	st := s.sets[key]
	if st != nil && s.cow.shares(st.gen) {
		st = &set{idx: maps.Clone(st.idx), list: slices.Clone(st.list), gen: s.cow.gen}
		s.sets[key] = st
	}
	return st
}

// qcut is a queue's part of a snapshot cut. The writer reads the messages
// as pointers taken at the cut; apply changes only their state, time and
// receive count in place, and before the first such change of a message
// the cut shares while its writer runs, it saves them here (touch).
type qcut struct {
	done   *cutDone
	seq    uint64 // the queue's at the cut: later messages are not in it
	msgs   []*qmsg
	dedupe []dedupeEntry

	mu  sync.Mutex // guards old: apply writes it, the writer reads
	old map[*qmsg]qvals
}

type qvals struct {
	at       int64
	receives int32
	state    qstate
}

// cutQueue takes q's part of a cut (on the FSM goroutine).
func (q *queue) cutQueue(done *cutDone) *qcut {
	c := &qcut{done: done, seq: q.seq, msgs: make([]*qmsg, 0, len(q.msgs)), dedupe: slices.Clone(q.dfifo[q.dhead:]), old: map[*qmsg]qvals{}}
	for _, msg := range q.msgs {
		c.msgs = append(c.msgs, msg)
	}
	q.cuts = append(q.cuts, c)
	return c
}

// touch is called by apply right before it changes msg's state, time or
// receive count. With no snapshot being written it is one length test.
func (q *queue) touch(msg *qmsg) {
	if len(q.cuts) == 0 {
		return
	}
	q.cuts = slices.DeleteFunc(q.cuts, func(c *qcut) bool { return c.done.done.Load() })
	for _, c := range q.cuts {
		if msg.seq > c.seq {
			continue
		}
		c.mu.Lock()
		if _, ok := c.old[msg]; !ok {
			c.old[msg] = qvals{msg.at, msg.receives, msg.state}
		}
		c.mu.Unlock()
	}
}

// vals answers msg's fields as they were at the cut. It reads the live
// fields under c.mu: apply saves them under c.mu before changing them.
func (c *qcut) vals(msg *qmsg) qvals {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.old[msg]; ok {
		return v
	}
	return qvals{msg.at, msg.receives, msg.state}
}

package lock

import (
	"container/list"
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Bounds of the holder history (Observe), part of the wire contract's
// documentation of LockHolderChange.
const (
	// HistoryPerKey is how many of its latest changes a key keeps.
	HistoryPerKey = 32
	// HistoryMaxKeys is how many keys keep changes; past it the least
	// recently changed key's changes go.
	HistoryMaxKeys = 10_000
	// HistoryMaxBytes bounds the kept changes' size (keys and values), as
	// HistoryMaxKeys does their number.
	HistoryMaxBytes = 4 << 20
	// MaxValueLen bounds the value an acquisition carries.
	MaxValueLen = 4096
	// changeOverhead is what a change costs beside its key and value, for
	// HistoryMaxBytes.
	changeOverhead = 64
)

// history is the replicated record of every key's holder changes, for
// Observe. Each change gets the next revision of one table-wide counter,
// so revisions strictly increase per key and every node numbers a change
// the same way (it is driven by apply only).
//
// A resume from revision r is answered exactly when no change of the key
// after r has been dropped: a key keeps trimmed, the revision of the last
// change it dropped (or the floor when its record began), and the table
// keeps floor, at least the last revision of every key whose record was
// dropped whole. A key with no record has had no change after floor.
type history struct {
	rev   uint64 // last revision given
	floor uint64
	keys  map[string]*keyHistory
	lru   list.List // of *keyHistory, least recently changed first
	bytes int

	notify notify.Notifier[string] // keyed by lock key
}

type keyHistory struct {
	key     string
	trimmed uint64
	changes []change
	bytes   int
	elem    *list.Element
}

type change struct {
	rev     uint64
	typ     lockpb.LockEventType
	leaseID uint64
	mode    lockpb.LockMode
	fence   uint64
	value   string
	atMs    int64
}

func newHistory() *history {
	return &history{keys: map[string]*keyHistory{}}
}

func (c *change) size(key string) int { return changeOverhead + len(key) + len(c.value) }

// record adds a change of key and wakes its observers; it returns the
// change's revision.
func (h *history) record(key string, c change) uint64 {
	h.rev++
	c.rev = h.rev
	kh := h.keys[key]
	if kh == nil {
		kh = &keyHistory{key: key, trimmed: h.floor}
		kh.elem = h.lru.PushBack(kh)
		h.keys[key] = kh
	} else {
		h.lru.MoveToBack(kh.elem)
	}
	kh.changes = append(kh.changes, c)
	n := c.size(key)
	kh.bytes += n
	h.bytes += n
	if len(kh.changes) > HistoryPerKey {
		old := kh.changes[0]
		kh.trimmed = old.rev
		n := old.size(key)
		kh.bytes -= n
		h.bytes -= n
		kh.changes = append(kh.changes[:0], kh.changes[1:]...)
	}
	for (len(h.keys) > HistoryMaxKeys || h.bytes > HistoryMaxBytes) && h.lru.Len() > 1 {
		h.drop(h.lru.Front().Value.(*keyHistory))
	}
	h.notify.Fire(key)
	return c.rev
}

// drop forgets a key's record, folding its last revision into the floor.
func (h *history) drop(kh *keyHistory) {
	h.lru.Remove(kh.elem)
	delete(h.keys, kh.key)
	h.bytes -= kh.bytes
	if n := len(kh.changes); n > 0 {
		h.floor = max(h.floor, kh.changes[n-1].rev)
	}
	h.floor = max(h.floor, kh.trimmed)
}

// lastChangeLocked is the revision of key's latest change, or a bound at
// least that high (the floor) when neither the history nor the key's state
// knows it. t.mu is held.
func (t *Table) lastChangeLocked(key string) uint64 {
	if t.hist == nil {
		return 0
	}
	if kh := t.hist.keys[key]; kh != nil && len(kh.changes) > 0 {
		return kh.changes[len(kh.changes)-1].rev
	}
	if ks := t.keys[key]; ks != nil && ks.holderRev > 0 {
		return ks.holderRev
	}
	return t.hist.floor
}

// keptAfterLocked is the lowest revision r from which every later change
// of key is still kept. t.mu is held.
func (t *Table) keptAfterLocked(key string) uint64 {
	if kh := t.hist.keys[key]; kh != nil {
		return kh.trimmed
	}
	// No record: every change of key is at most its latest one, which the
	// key's state may still know exactly (a held key whose record went
	// while it stayed quiet), and otherwise at most the floor.
	if ks := t.keys[key]; ks != nil && ks.holderRev > 0 {
		return ks.holderRev
	}
	return t.hist.floor
}

// recordGrant and recordEnd are the table's hooks: every grant and every
// end of a grant, of every key, in apply order. A table without a history
// (LOCAL scope) records nothing.
func (t *Table) recordGrant(l *lease, now int64) {
	if t.hist == nil {
		return
	}
	for i, k := range l.keys {
		ks := t.keys[k]
		t.beforeKey(ks)
		ks.holderRev = t.hist.record(k, change{typ: lockpb.LockEventType_LOCK_EVENT_TYPE_GRANTED, leaseID: l.id, mode: l.mode, fence: l.fences[i], value: l.value, atMs: now})
	}
}

func (t *Table) recordEnd(l *lease, reason lockpb.LockEventType, now int64) {
	if t.hist == nil {
		return
	}
	for i, k := range l.keys {
		ks := t.keys[k]
		t.beforeKey(ks)
		ks.holderRev = t.hist.record(k, change{typ: reason, leaseID: l.id, mode: l.mode, fence: l.fences[i], value: l.value, atMs: now})
	}
}

// WatchHolders subscribes to the holder changes of key.
func (t *Table) WatchHolders(key string) *notify.Waiter[string] {
	if t.hist == nil {
		return (&notify.Notifier[string]{}).Watch(key) // never fires
	}
	return t.hist.notify.Watch(key)
}

// HolderState is key's holders now, each lease listing only its grant of
// key and its value, and the revision of the key's latest change.
func (t *Table) HolderState(key string) (holders []*lockpb.LockLease, rev uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rev = t.lastChangeLocked(key)
	if ks := t.keys[key]; ks != nil {
		holders = t.holdersPB(ks, key)
	}
	return holders, rev
}

func (t *Table) holdersPB(ks *keyState, key string) []*lockpb.LockLease {
	out := make([]*lockpb.LockLease, 0, len(ks.holders))
	for _, l := range ks.holders {
		p := &lockpb.LockLease{LeaseId: t.LeaseID(l.id), LeaseExpiresAtMs: l.effective(), LeaseTtlMs: l.ttlMs, GrantedAtMs: l.grantedAt, Value: []byte(l.value)}
		for i, k := range l.keys {
			if k == key {
				p.Grants = []*lockpb.LockGrant{{Key: k, Mode: l.mode, FenceToken: l.fences[i]}}
			}
		}
		out = append(out, p)
	}
	return out
}

// HolderChanges appends to buf up to limit changes of key with a revision
// after after, oldest first, and returns them with the revision to resume
// from next. It answers "compacted" when a change of key after after is no
// longer kept, and "invalid_argument" for a revision this table has not
// reached (a resume point from nowhere: the caller passed the read rule,
// so every revision it saw is applied here).
func (t *Table) HolderChanges(key string, after uint64, limit int, buf []*lockpb.LockHolderChange) ([]*lockpb.LockHolderChange, uint64, *commonpb.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.hist
	if h == nil {
		return buf, after, result.Invalid("key", "has no holder history (LOCAL scope is not observed)")
	}
	if after > h.rev {
		return buf, after, result.Invalid("after_revision", fmt.Sprintf("is %d, past the latest holder revision %d", after, h.rev))
	}
	kh := h.keys[key]
	if trimmed := t.keptAfterLocked(key); after < trimmed {
		return buf, after, result.Failf(result.CodeCompacted, "holder changes of lock %q after revision %d are no longer kept; the oldest resume point is revision %d (start a new Observe)", key, after, trimmed)
	}
	next := after
	if kh == nil {
		return buf, next, nil
	}
	for i := range kh.changes {
		c := &kh.changes[i]
		if c.rev <= after {
			continue
		}
		if len(buf) == limit {
			break
		}
		buf = append(buf, &lockpb.LockHolderChange{Revision: c.rev, Type: c.typ, Key: key, LeaseId: t.LeaseID(c.leaseID), Mode: c.mode, FenceToken: c.fence, Value: []byte(c.value), OccurredAtMs: c.atMs})
		next = c.rev
	}
	return buf, next, nil
}

// HolderRevision is the revision of key's latest change (see HolderState).
func (t *Table) HolderRevision(key string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastChangeLocked(key)
}

// snapHistory is one key's record in a snapshot.
type snapHistory struct {
	Key     string       `json:"k"`
	Trimmed uint64       `json:"t,omitempty"`
	Changes []snapChange `json:"c"`
}

type snapChange struct {
	Rev     uint64 `json:"r"`
	Type    int32  `json:"t"`
	LeaseID uint64 `json:"l"`
	Mode    int32  `json:"m"`
	Fence   uint64 `json:"f"`
	Value   []byte `json:"v,omitempty"`
	AtMs    int64  `json:"at"`
}

func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// restoreHistory adds one key's record of a snapshot to the history, in
// the snapshot's (LRU) order. t.mu is held or t is not shared yet.
func (t *Table) restoreHistory(sh snapHistory) error {
	h := t.hist
	if h == nil {
		return nil
	}
	if _, dup := h.keys[sh.Key]; dup || len(sh.Changes) == 0 {
		return fmt.Errorf("lock: snapshot holder history of %q is malformed", sh.Key)
	}
	kh := &keyHistory{key: sh.Key, trimmed: sh.Trimmed, changes: make([]change, len(sh.Changes))}
	for i, c := range sh.Changes {
		if c.Rev > h.rev {
			return fmt.Errorf("lock: snapshot holder change %d of %q is past revision %d", c.Rev, sh.Key, h.rev)
		}
		kh.changes[i] = change{c.Rev, lockpb.LockEventType(c.Type), c.LeaseID, lockpb.LockMode(c.Mode), c.Fence, string(c.Value), c.AtMs}
		n := kh.changes[i].size(sh.Key)
		kh.bytes += n
		h.bytes += n
	}
	kh.elem = h.lru.PushBack(kh)
	h.keys[sh.Key] = kh
	return nil
}

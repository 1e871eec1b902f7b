package lock

import (
	"container/heap"
	"encoding/binary"
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
)

// Renewals from the leader's memory.
//
// Once a leader has switched the table to leader-decided expiry (the
// re-arm a new leader commits, fsm.RearmCommand, calls LeaderDecides), a
// lease ends by time only through OpExpire, which the leader proposes for
// the leases whose expiry has passed by its own memory. No apply decides
// expiry from the command's time any more, so a lease renewed in the
// leader's memory, whose replicated expiry lags, is never expired by any
// replica: Acquire contends with it, the fence check passes for it, and
// every replica decides the same from the same log.
//
// The leader renews a live lease it holds in memory (RenewInMemory) after
// confirming its leadership with a quorum (a heartbeat round, no log
// write), and stamps the renewal with its clock read before that round.
// A later leader's election needs a vote from a member of the quorum that
// confirmed this leader after the stamp (quorums intersect, a leadership
// transfer included), so any later leader is established after that
// stamp, and its re-arm (a full TTL from its clock) ends the lease no
// earlier than this leader promised.
//
// The replicated expiry is brought up to the leader's by OpCheckpoint, one
// batched command per tick for the leases renewed in memory, each lease at
// most once per CheckpointEvery of its TTL. Checkpoints are not needed for
// safety (the re-arm is); they keep followers' reads and lock event
// streams close to the leader's view at a bounded write rate.

// Ops of the leader-decided expiry; part of the log format.
const (
	// OpExpire: payload EncodeLeaseIDs; ends each listed lease that is
	// still live, as EXPIRED. Result *Outcome.
	OpExpire uint16 = 6
	// OpCheckpoint: payload EncodeCheckpoints; raises each listed live
	// lease's replicated expiry to the given one. Result *Outcome.
	OpCheckpoint uint16 = 7
)

// CheckpointEvery is the fraction of its TTL within which a lease's
// in-memory expiry is checkpointed at most once: at the SDK's usual
// renewal every TTL/2, one renewal in two reaches the log.
const CheckpointEvery = 1

// MaxLeaderBatch bounds the leases in one OpExpire or OpCheckpoint.
const MaxLeaderBatch = 1024

// redoExpireMs is how long the leader waits for an expiry it proposed to
// apply before proposing it again (the first proposal may have failed).
const redoExpireMs = 1_000

// leaderLease is what the leader keeps of a lease in memory only: never
// replicated, never in a snapshot, and never read by an apply decision.
type leaderLease struct {
	expiresAt int64 // renewed in memory (0: never); the lease ends at max(this, the replicated expiry)
	expiring  int64 // when the leader proposed its expiry (0: not proposed)
	ckptAt    int64 // when it was last checkpointed from memory
}

// effective is the expiry the leader holds to: the later of the replicated
// one and the renewals in its memory.
func (l *lease) effective() int64 { return max(l.expiresAt, l.lead.expiresAt) }

// livePB is leasePB with the expiry the leader holds to, for reads.
func (t *Table) livePB(l *lease, recovered bool) *lockpb.LockLease {
	p := t.leasePB(l, recovered)
	p.LeaseExpiresAtMs = l.effective()
	return p
}

// LeaderDecides switches the table, at this point of the log, to leases
// that end only by OpExpire (and release, revoke). Applied with the
// re-arm of a new leader (fsm.LeaderExpirer).
func (t *Table) LeaderDecides() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leaderExpiry = true
}

// LeaderDecided reports whether LeaderDecides has been applied.
func (t *Table) LeaderDecided() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leaderExpiry
}

// MemoryRenewal is what RenewInMemory did.
type MemoryRenewal int

const (
	// RenewedInMemory: the lease was renewed in memory; the outcome is the answer.
	RenewedInMemory MemoryRenewal = iota
	// RenewThroughLog: the lease is not live (the log answers from its
	// tombstone), or the TTL changes (its promise is already in memory,
	// so the leader expires nothing before the renewal applies): propose
	// OpRenew.
	RenewThroughLog
	// ExpireThenRenew: the lease's expiry has passed by the leader's
	// memory: propose ExpireCommand for it, then OpRenew, which answers
	// from the tombstone exactly as a renewal after a tick did.
	ExpireThenRenew
)

// RenewInMemory renews the live lease leaseID of reqID to atMs + its TTL
// in the leader's memory, without a log write. The caller is the leader,
// has confirmed its leadership after reading atMs, and uses it only once
// LeaderDecided. Anything else (not live, another owner, a new TTL, an
// expiry that has passed) is left to the log, as MemoryRenewal says.
func (t *Table) RenewInMemory(leaseID, reqID string, ttlMs, atMs int64) (*Outcome, MemoryRenewal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, _ := t.lookup(leaseID)
	if !t.leaderExpiry || l == nil || l.reqID != reqID {
		return nil, RenewThroughLog
	}
	if l.lead.expiring != 0 || l.effective() <= atMs {
		return nil, ExpireThenRenew
	}
	ttl := l.ttlMs
	if ttlMs > 0 {
		ttl = ttlMs
	}
	if e := msec.Add(atMs, ttl); e > l.lead.expiresAt {
		l.lead.expiresAt = e
		heap.Fix(&t.expiries, l.heapIdx)
	}
	if ttl != l.ttlMs {
		return nil, RenewThroughLog
	}
	t.dirty[l.id] = l
	t.notify.Fire(l.reqID)
	return &Outcome{Lease: t.livePB(l, false)}, RenewedInMemory
}

// ExpiredInMemory reports whether the live lease leaseID has passed its
// expiry by the leader's memory at nowMs (its expiry command is due).
func (t *Table) ExpiredInMemory(leaseID string, nowMs int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, _ := t.lookup(leaseID)
	return t.leaderExpiry && l != nil && (l.lead.expiring != 0 || l.effective() <= nowMs)
}

// ExpiredOn lists the live leases holding any of keys whose expiry has
// passed by the leader's memory at nowMs, so that an acquisition can
// propose their expiry first, as a lazy expiry used to end them.
func (t *Table) ExpiredOn(keys []string, nowMs int64) []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.leaderExpiry {
		return nil
	}
	var ids []uint64
	for _, k := range keys {
		ks := t.keys[k]
		if ks == nil {
			continue
		}
		for _, l := range ks.holders {
			if l.lead.expiring != 0 || l.effective() <= nowMs {
				ids = append(ids, l.id)
			}
		}
	}
	return ids
}

// ExpireCommand is the OpExpire command for leases ids (its time is
// stamped by the proposer).
func ExpireCommand(ids []uint64) fsm.Command {
	return fsm.Command{Subsystem: Name, Op: OpExpire, Payload: EncodeLeaseIDs(ids)}
}

// FenceExpiry implements fsm.FenceExpirer: the expiry of the holders of
// key whose lease has passed by the leader's memory at nowMs.
func (t *Table) FenceExpiry(key string, nowMs int64) (fsm.Command, bool) {
	ids := t.ExpiredOn([]string{key}, nowMs)
	if len(ids) == 0 {
		return fsm.Command{}, false
	}
	return ExpireCommand(ids), true
}

// ExpireCommandFor is ExpireCommand for one lease id string; ok is false
// for an id this table never made.
func (t *Table) ExpireCommandFor(leaseID string) (fsm.Command, bool) {
	id, ok := t.parseID(leaseID)
	return ExpireCommand([]uint64{id}), ok
}

// LeaderCommands implements fsm.LeaderExpirer: the expiry of every lease
// whose expiry has passed by the leader's memory at nowMs, and the
// checkpoint of the leases renewed in memory that are due one.
func (t *Table) LeaderCommands(nowMs int64) []fsm.Command {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.leaderExpiry {
		return nil
	}
	var cmds []fsm.Command
	if ids := t.dueLocked(nowMs); len(ids) > 0 {
		cmds = append(cmds, ExpireCommand(ids))
	}
	var ck []Checkpoint
	for id, l := range t.dirty {
		if len(ck) == MaxLeaderBatch {
			break
		}
		if l.lead.expiring != 0 || l.lead.expiresAt <= l.expiresAt {
			delete(t.dirty, id)
			continue
		}
		if l.lead.ckptAt != 0 && nowMs-l.lead.ckptAt < l.ttlMs*CheckpointEvery {
			continue
		}
		l.lead.ckptAt = nowMs
		delete(t.dirty, id)
		ck = append(ck, Checkpoint{ID: id, ExpiresAt: l.lead.expiresAt})
	}
	if len(ck) > 0 {
		cmds = append(cmds, fsm.Command{Subsystem: Name, Op: OpCheckpoint, Payload: EncodeCheckpoints(ck)})
	}
	return cmds
}

// dueLocked marks and lists the leases whose effective expiry is at or
// before nowMs and whose expiry was not proposed in the last redoExpireMs.
// The heap is ordered by effective expiry, so a subtree whose root is not
// due holds nothing due.
func (t *Table) dueLocked(nowMs int64) []uint64 {
	var ids []uint64
	var walk func(i int)
	walk = func(i int) {
		if i >= len(t.expiries) || len(ids) == MaxLeaderBatch {
			return
		}
		l := t.expiries[i]
		if l.effective() > nowMs {
			return
		}
		if l.lead.expiring == 0 || nowMs-l.lead.expiring >= redoExpireMs {
			l.lead.expiring = nowMs
			ids = append(ids, l.id)
		}
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
	return ids
}

// applyExpire ends each listed lease that is still live, as EXPIRED.
func (t *Table) applyExpire(ids []uint64, atMs int64) *Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now(atMs)
	t.expireDue(now)
	for _, id := range ids {
		if l := t.leases[id]; l != nil {
			t.end(l, lockpb.LockEventType_LOCK_EVENT_TYPE_EXPIRED, now)
		}
	}
	return &Outcome{}
}

// Checkpoint is one lease's expiry as the leader's memory holds it.
type Checkpoint struct {
	ID        uint64
	ExpiresAt int64
}

// applyCheckpoint raises each listed live lease's replicated expiry.
func (t *Table) applyCheckpoint(ck []Checkpoint, atMs int64) *Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireDue(t.now(atMs))
	for _, c := range ck {
		l := t.leases[c.ID]
		if l == nil || c.ExpiresAt <= l.expiresAt {
			continue
		}
		t.beforeLease(l)
		l.expiresAt = c.ExpiresAt
		heap.Fix(&t.expiries, l.heapIdx)
		t.notify.Fire(l.reqID)
	}
	return &Outcome{}
}

// clearLeaderMemory forgets the expiries proposed by an earlier leader's
// memory (a re-arm: a new leader decides anew). Renewals in memory stay:
// they were promised.
func (t *Table) clearLeaderMemory() {
	for _, l := range t.expiries {
		l.lead.expiring, l.lead.ckptAt = 0, 0
	}
	clear(t.dirty)
}

// EncodeLeaseIDs is the OpExpire payload: uvarint count, then each id.
func EncodeLeaseIDs(ids []uint64) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, id)
	}
	return b
}

// DecodeLeaseIDs reverses EncodeLeaseIDs.
func DecodeLeaseIDs(p []byte) ([]uint64, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > MaxLeaderBatch {
		return nil, fmt.Errorf("lock: expire payload: bad count")
	}
	p = p[k:]
	ids := make([]uint64, n)
	for i := range ids {
		if ids[i], k = binary.Uvarint(p); k <= 0 {
			return nil, fmt.Errorf("lock: expire payload: bad lease id %d", i)
		}
		p = p[k:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("lock: expire payload: %d trailing bytes", len(p))
	}
	return ids, nil
}

// EncodeCheckpoints is the OpCheckpoint payload: uvarint count, then each
// id (uvarint) and expiry (varint).
func EncodeCheckpoints(ck []Checkpoint) []byte {
	b := binary.AppendUvarint(nil, uint64(len(ck)))
	for _, c := range ck {
		b = binary.AppendUvarint(b, c.ID)
		b = binary.AppendVarint(b, c.ExpiresAt)
	}
	return b
}

// DecodeCheckpoints reverses EncodeCheckpoints.
func DecodeCheckpoints(p []byte) ([]Checkpoint, error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > MaxLeaderBatch {
		return nil, fmt.Errorf("lock: checkpoint payload: bad count")
	}
	p = p[k:]
	ck := make([]Checkpoint, n)
	for i := range ck {
		if ck[i].ID, k = binary.Uvarint(p); k <= 0 {
			return nil, fmt.Errorf("lock: checkpoint payload: bad lease id %d", i)
		}
		p = p[k:]
		if ck[i].ExpiresAt, k = binary.Varint(p); k <= 0 {
			return nil, fmt.Errorf("lock: checkpoint payload: bad expiry %d", i)
		}
		p = p[k:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("lock: checkpoint payload: %d trailing bytes", len(p))
	}
	return ck, nil
}

// applyLeaderOp applies OpExpire and OpCheckpoint; ok is false for
// another op.
func (s *Machine) applyLeaderOp(cmd fsm.Command) (res any, ok bool) {
	switch cmd.Op {
	case OpExpire:
		ids, err := DecodeLeaseIDs(cmd.Payload)
		if err != nil {
			return err, true
		}
		return s.applyExpire(ids, cmd.AtMs), true
	case OpCheckpoint:
		ck, err := DecodeCheckpoints(cmd.Payload)
		if err != nil {
			return err, true
		}
		return s.applyCheckpoint(ck, cmd.AtMs), true
	}
	return nil, false
}

var _ fsm.LeaderExpirer = (*Machine)(nil)

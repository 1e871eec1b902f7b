package lock

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// replica is one node's FSM with its lock machine.
type replica struct {
	f  *fsm.FSM
	sm *Machine
}

func newReplica(t *testing.T) replica {
	t.Helper()
	r := replica{f: fsm.New(nil), sm: New()}
	if err := r.f.Register(r.sm); err != nil {
		t.Fatal(err)
	}
	return r
}

// log applies one command to every replica and returns the first's answer.
func applyAll(t *testing.T, rs []replica, cmd fsm.Command) any {
	t.Helper()
	var first any
	for i, r := range rs {
		res := r.f.ApplyCommand(cmd)
		if i == 0 {
			first = res
		}
	}
	return first
}

func lockCmd(t *testing.T, op uint16, at int64, msg proto.Message) fsm.Command {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return fsm.Command{Subsystem: Name, Op: op, AtMs: at, Payload: b}
}

func snap(t *testing.T, sm *Machine) []byte {
	t.Helper()
	w, err := sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := w(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func leaderCmds(rs []replica, now int64) []fsm.Command {
	cmds := rs[0].f.LeaderCommands(now)
	for i := range cmds {
		cmds[i].AtMs = now
	}
	return cmds
}

// A lease renewed in the leader's memory only is never expired by any
// replica's apply, whatever the stamped time of later commands; the
// fence check passes for it on every replica; the leader's checkpoint
// brings followers' expiry up; and once its expiry passes by the leader's
// memory, the leader's expiry command ends it identically everywhere.
func TestLeaderRenewalNeverExpiredByApply(t *testing.T) {
	rs := []replica{newReplica(t), newReplica(t), newReplica(t)}
	leader := rs[0].sm
	acquire := func(req string, at int64) *Outcome {
		return applyAll(t, rs, lockCmd(t, OpAcquire, at, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: req, Keys: []string{"k"}, LeaseTtlMs: 1000})).(*Outcome)
	}
	l := mustGrant(t, acquire("a", 10)) // expires 1010
	tok := l.Grants[0].FenceToken
	applyAll(t, rs, fsm.RearmCommand(20)) // a new leader: expiry 1020, decided by the leader from now on
	for _, r := range rs {
		if !r.sm.LeaderDecided() {
			t.Fatal("the re-arm did not switch a replica to leader-decided expiry")
		}
	}

	o, how := leader.RenewInMemory(l.LeaseId, "a", 0, 900)
	if how != RenewedInMemory || o.Lease.GetLeaseExpiresAtMs() != 1900 {
		t.Fatalf("renewal in memory: %v %+v", how, o)
	}
	if got := rs[1].sm.ExpiresAt(l.LeaseId); got != 1020 {
		t.Fatalf("a follower sees expiry %d before any checkpoint, want the replicated 1020", got)
	}

	// Past the replicated expiry: no apply expires the lease.
	applyAll(t, rs, fsm.TickCommand(1500))
	mustCode(t, acquire("b", 1500), result.CodeExpired)
	for i, r := range rs {
		if cur, why := r.sm.CheckFence("k", tok, 1500); why != "" || cur != tok {
			t.Fatalf("replica %d refuses the renewed holder's fence: %q (current %d)", i, why, cur)
		}
	}

	// The leader proposes the checkpoint of its memory, and no expiry.
	cmds := leaderCmds(rs, 1500)
	if len(cmds) != 1 || cmds[0].Op != OpCheckpoint {
		t.Fatalf("leader commands at 1500: %+v", cmds)
	}
	applyAll(t, rs, cmds[0])
	for i, r := range rs {
		if got := r.sm.ExpiresAt(l.LeaseId); got != 1900 {
			t.Fatalf("replica %d: expiry %d after the checkpoint, want 1900", i, got)
		}
	}
	if cmds := leaderCmds(rs, 1600); len(cmds) != 0 {
		t.Fatalf("nothing is due at 1600, got %+v", cmds)
	}

	// Its expiry passes by the leader's memory: the leader expires it.
	cmds = leaderCmds(rs, 1900)
	if len(cmds) != 1 || cmds[0].Op != OpExpire {
		t.Fatalf("leader commands at 1900: %+v", cmds)
	}
	if again := leaderCmds(rs, 1950); len(again) != 0 {
		t.Fatalf("the expiry was proposed again before it could apply: %+v", again)
	}
	if _, how := leader.RenewInMemory(l.LeaseId, "a", 0, 1901); how != ExpireThenRenew {
		t.Fatalf("a renewal after the expiry was proposed: %v", how)
	}
	applyAll(t, rs, cmds[0])
	b := mustGrant(t, acquire("b", 1960))
	for i, r := range rs {
		if _, why := r.sm.CheckFence("k", tok, 1961); why == "" {
			t.Fatalf("replica %d passes the expired holder's fence", i)
		}
		if cur, why := r.sm.CheckFence("k", b.Grants[0].FenceToken, 1961); why != "" || cur != tok+1 {
			t.Fatalf("replica %d: new holder %q (current %d)", i, why, cur)
		}
	}
	want := snap(t, rs[1].sm)
	for i, r := range rs {
		if got := snap(t, r.sm); !bytes.Equal(got, want) {
			t.Fatalf("replica %d diverged:\n%s\n%s", i, got, want)
		}
	}
}

// A lease nobody renews ends by the leader's expiry command only, and a
// renewal that comes too late answers as it did when expiry was lazy.
func TestLeaderExpiresUnrenewedLease(t *testing.T) {
	rs := []replica{newReplica(t), newReplica(t)}
	legacy := NewTable("", 0) // the lazy rule, as before
	l := mustGrant(t, applyAll(t, rs, lockCmd(t, OpAcquire, 10, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "a", Keys: []string{"k"}, LeaseTtlMs: 1000})).(*Outcome))
	mustGrant(t, acq(t, legacy, "a", excl, 0, 10, "k"))
	applyAll(t, rs, fsm.RearmCommand(10))

	applyAll(t, rs, fsm.TickCommand(5000))
	for i, r := range rs {
		if n, _, _, _ := r.sm.Counts(); n != 1 {
			t.Fatalf("replica %d: a tick expired a lease the leader decides", i)
		}
	}
	if !rs[0].sm.ExpiredInMemory(l.LeaseId, 5000) || rs[0].sm.ExpiredInMemory(l.LeaseId, 1009) {
		t.Fatal("ExpiredInMemory does not follow the expiry")
	}
	cmds := leaderCmds(rs, 5000)
	if len(cmds) != 1 || cmds[0].Op != OpExpire {
		t.Fatalf("leader commands: %+v", cmds)
	}
	applyAll(t, rs, cmds[0])
	renew := lockCmd(t, OpRenew, 5001, &lockpb.LockServiceRenewRequest{LeaseId: l.LeaseId, RequestId: "a"})
	got := applyAll(t, rs, renew).(*Outcome)
	want := legacy.Renew(l.LeaseId, "a", 0, 5001)
	if got.Code != want.Code || got.Message != want.Message || want.Code != result.CodeLeaseExpired {
		t.Fatalf("late renewal: %+v, lazy expiry answered %+v", got, want)
	}
	for i, r := range rs {
		if _, ended := r.sm.LeaseState(l.LeaseId, "a"); !ended {
			t.Fatalf("replica %d forgot the lease", i)
		}
		if st, _ := r.sm.LeaseState(l.LeaseId, "a"); st.Ended != lockpb.LockEventType_LOCK_EVENT_TYPE_EXPIRED {
			t.Fatalf("replica %d: ended %v", i, st.Ended)
		}
	}
}

// What the leader cannot renew in memory goes to the log, and answers
// exactly as the log did before: an unknown lease, another owner, a
// released lease; a new TTL is promised in memory and committed.
func TestRenewInMemoryLeavesTheRestToTheLog(t *testing.T) {
	rs := []replica{newReplica(t)}
	sm := rs[0].sm
	legacy := NewTable("", 0)
	acquire := func(req, key string) *lockpb.LockLease {
		l := mustGrant(t, applyAll(t, rs, lockCmd(t, OpAcquire, 10, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: req, Keys: []string{key}, LeaseTtlMs: 1000})).(*Outcome))
		mustGrant(t, acq(t, legacy, req, excl, 0, 10, key))
		return l
	}
	a, b := acquire("a", "k"), acquire("b", "m")
	if _, how := sm.RenewInMemory(a.LeaseId, "a", 0, 20); how != RenewThroughLog {
		t.Fatal("renewed in memory before the leader decides expiry")
	}
	applyAll(t, rs, fsm.RearmCommand(10))
	rel := lockCmd(t, OpRelease, 20, &lockpb.LockServiceReleaseRequest{LeaseId: b.LeaseId, RequestId: "b"})
	applyAll(t, rs, rel)
	legacy.Release(b.LeaseId, "b", 20)
	for _, c := range []struct{ lease, req string }{
		{"999", "a"},        // never existed
		{"garbage", "a"},    // not an id of this table
		{a.LeaseId, "b"},    // another owner
		{b.LeaseId, "b"},    // released
		{b.LeaseId, "zzzz"}, // released, another owner
	} {
		if _, how := sm.RenewInMemory(c.lease, c.req, 0, 30); how != RenewThroughLog {
			t.Errorf("RenewInMemory(%q, %q) = %v, want the log", c.lease, c.req, how)
		}
		got := applyAll(t, rs, lockCmd(t, OpRenew, 30, &lockpb.LockServiceRenewRequest{LeaseId: c.lease, RequestId: c.req})).(*Outcome)
		want := legacy.Renew(c.lease, c.req, 0, 30)
		if got.Code != want.Code || got.Message != want.Message || got.Code == "" {
			t.Errorf("renew %q by %q: %+v, before %+v", c.lease, c.req, got, want)
		}
	}
	// A new TTL: the promise is in memory at once, and the log commits it.
	if _, how := sm.RenewInMemory(a.LeaseId, "a", 5000, 40); how != RenewThroughLog || sm.ExpiresAt(a.LeaseId) != 5040 {
		t.Fatalf("new TTL: %v, expiry %d", how, sm.ExpiresAt(a.LeaseId))
	}
	o := applyAll(t, rs, lockCmd(t, OpRenew, 41, &lockpb.LockServiceRenewRequest{LeaseId: a.LeaseId, RequestId: "a", LeaseTtlMs: 5000})).(*Outcome)
	if o.Code != "" || o.Lease.GetLeaseTtlMs() != 5000 {
		t.Fatalf("new TTL through the log: %+v", o)
	}
	if _, how := sm.RenewInMemory(a.LeaseId, "a", 5000, 100); how != RenewedInMemory {
		t.Fatalf("same TTL again: %v", how)
	}
}

// A new leader's re-arm never ends a lease earlier than the old leader's
// in-memory renewal promised, when the new leader's clock reads at least
// the renewal's stamp (the old leader stamped it before confirming its
// leadership, so a later leader is established after it).
func TestRearmCoversRenewalInOldLeadersMemory(t *testing.T) {
	rs := []replica{newReplica(t), newReplica(t)}
	l := mustGrant(t, applyAll(t, rs, lockCmd(t, OpAcquire, 10, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "a", Keys: []string{"k"}, LeaseTtlMs: 1000})).(*Outcome))
	applyAll(t, rs, fsm.RearmCommand(10))
	o, how := rs[0].sm.RenewInMemory(l.LeaseId, "a", 0, 800) // promised 1800; never checkpointed
	if how != RenewedInMemory {
		t.Fatal(how)
	}
	// The old leader dies; the follower leads, re-arming at 900.
	applyAll(t, rs[1:], fsm.RearmCommand(900))
	next := rs[1:]
	if got := next[0].sm.ExpiresAt(l.LeaseId); got < o.Lease.GetLeaseExpiresAtMs() {
		t.Fatalf("re-armed to %d, earlier than the promised %d", got, o.Lease.GetLeaseExpiresAtMs())
	}
	if cmds := leaderCmds(next, 1800); len(cmds) != 0 {
		t.Fatalf("the new leader expires at 1800, before its re-armed 1900: %+v", cmds)
	}
	if cmds := leaderCmds(next, 1900); len(cmds) != 1 || cmds[0].Op != OpExpire {
		t.Fatalf("the new leader does not expire at 1900: %+v", cmds)
	}
}

// One checkpoint per lease per TTL at most, however often it is renewed;
// many leases share one command.
func TestCheckpointRateIsBounded(t *testing.T) {
	rs := []replica{newReplica(t)}
	sm := rs[0].sm
	var leases []*lockpb.LockLease
	for _, k := range []string{"a", "b", "c"} {
		leases = append(leases, mustGrant(t, applyAll(t, rs, lockCmd(t, OpAcquire, 10, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: k, Keys: []string{k}, LeaseTtlMs: 1000})).(*Outcome)))
	}
	applyAll(t, rs, fsm.RearmCommand(10))
	checkpoints := 0
	for now := int64(20); now < 3000; now += 50 {
		for _, l := range leases {
			if _, how := sm.RenewInMemory(l.LeaseId, l.RequestId, 0, now); how != RenewedInMemory {
				t.Fatalf("renewal at %d: %v", now, how)
			}
		}
		for _, c := range leaderCmds(rs, now) {
			if c.Op != OpCheckpoint {
				t.Fatalf("at %d: op %d", now, c.Op)
			}
			ck, err := DecodeCheckpoints(c.Payload)
			if err != nil || len(ck) != len(leases) {
				t.Fatalf("checkpoint of %d leases (%v), want them all in one", len(ck), err)
			}
			checkpoints++
			applyAll(t, rs, c)
		}
	}
	// 60 renewals of each lease over 3 TTLs: at 20, 1020 and 2020.
	if checkpoints != 3 {
		t.Fatalf("%d checkpoints, want 3", checkpoints)
	}
}

func TestLeaderOpsRejectGarbage(t *testing.T) {
	rs := []replica{newReplica(t)}
	l := mustGrant(t, applyAll(t, rs, lockCmd(t, OpAcquire, 10, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "a", Keys: []string{"k"}, LeaseTtlMs: 1000})).(*Outcome))
	applyAll(t, rs, fsm.RearmCommand(10))
	before := snap(t, rs[0].sm)
	for _, cmd := range []fsm.Command{
		{Subsystem: Name, Op: OpExpire},
		{Subsystem: Name, Op: OpExpire, Payload: []byte{0x02, 0x01}},
		{Subsystem: Name, Op: OpExpire, Payload: append(EncodeLeaseIDs([]uint64{1}), 0)},
		{Subsystem: Name, Op: OpExpire, Payload: []byte{0xff, 0xff, 0xff, 0x01}},
		{Subsystem: Name, Op: OpCheckpoint, Payload: []byte{0x01, 0x01}},
		{Subsystem: Name, Op: OpCheckpoint, Payload: append(EncodeCheckpoints([]Checkpoint{{1, 5}}), 7)},
	} {
		cmd.AtMs = 20
		if _, ok := rs[0].f.ApplyCommand(cmd).(error); !ok {
			t.Errorf("op %d payload %x: want an error", cmd.Op, cmd.Payload)
		}
	}
	if after := snap(t, rs[0].sm); !bytes.Equal(before, after) {
		t.Fatalf("garbage changed the state:\n%s\n%s", before, after)
	}
	ids, err := DecodeLeaseIDs(EncodeLeaseIDs([]uint64{1, 1 << 40}))
	if err != nil || len(ids) != 2 || ids[1] != 1<<40 {
		t.Fatal(ids, err)
	}
	// An expiry of an ended or unknown lease changes nothing.
	applyAll(t, rs, fsm.Command{Subsystem: Name, Op: OpExpire, AtMs: 30, Payload: EncodeLeaseIDs([]uint64{77})})
	if n, _, _, _ := rs[0].sm.Counts(); n != 1 || rs[0].sm.ExpiresAt(l.LeaseId) == 0 {
		t.Fatal("an expiry of an unknown lease ended another")
	}
}

// A fenced write proposed after its lease has ended by the leader's
// memory, before the ticker's expiry command, is refused: the leader
// proposes the expiry first (fsm.FSM.FenceExpiry), so the write's fence
// check sees the lease ended, on every replica.
func TestFencedWriteAfterLeaderExpiryIsRefused(t *testing.T) {
	rs := []replica{newReplica(t), newReplica(t), newReplica(t)}
	l := mustGrant(t, applyAll(t, rs, lockCmd(t, OpAcquire, 10, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "a", Keys: []string{"k"}, LeaseTtlMs: 1000})).(*Outcome))
	tok := l.Grants[0].FenceToken
	applyAll(t, rs, fsm.RearmCommand(20)) // expiry 1020, decided by the leader
	if _, how := rs[0].sm.RenewInMemory(l.LeaseId, "a", 0, 900); how != RenewedInMemory {
		t.Fatalf("renewal in memory: %v", how)
	}
	if cmd, ok := rs[0].f.FenceExpiry("k", 1899); ok {
		t.Fatalf("an expiry before the lease's end (1900): %+v", cmd)
	}
	if _, ok := rs[0].f.FenceExpiry("other", 5000); ok {
		t.Fatal("an expiry for a key nobody holds")
	}
	exp, ok := rs[0].f.FenceExpiry("k", 1901)
	if !ok || exp.Op != OpExpire {
		t.Fatalf("no expiry past the lease's end by the leader's memory: %+v %v", exp, ok)
	}
	exp.AtMs = 1901
	applyAll(t, rs, exp)
	for i, r := range rs {
		if _, why := r.sm.CheckFence("k", tok, 1901); why == "" {
			t.Fatalf("replica %d passes the fence of a lease that ended at 1900", i)
		}
	}
}

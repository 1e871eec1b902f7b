package lock

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	excl   = lockpb.LockMode_LOCK_MODE_EXCLUSIVE
	shared = lockpb.LockMode_LOCK_MODE_SHARED
)

func acq(t *testing.T, tb *Table, req string, mode lockpb.LockMode, wait int64, at int64, keys ...string) *Outcome {
	t.Helper()
	return tb.Acquire(AcquireRequest{RequestID: req, Keys: keys, Mode: mode, MaxWaitMs: wait, TTLMs: 1000}, at)
}

func mustGrant(t *testing.T, o *Outcome) *lockpb.LockLease {
	t.Helper()
	if o.Code != "" || o.Lease == nil {
		t.Fatalf("want a grant, got %+v", o)
	}
	return o.Lease
}

func mustCode(t *testing.T, o *Outcome, code string) {
	t.Helper()
	if o.Code != code {
		t.Fatalf("want code %q, got %+v", code, o)
	}
}

func TestLockExclusiveExcludesAndFenceIncreases(t *testing.T) {
	tb := NewTable("", 0)
	l1 := mustGrant(t, acq(t, tb, "r1", excl, 0, 10, "k"))
	mustCode(t, acq(t, tb, "r2", excl, 0, 11, "k"), result.CodeExpired)
	mustCode(t, acq(t, tb, "r3", shared, 0, 11, "k"), result.CodeExpired)
	if o := tb.Release(l1.LeaseId, "r1", 12); o.Code != "" {
		t.Fatal(o)
	}
	l2 := mustGrant(t, acq(t, tb, "r2", excl, 0, 13, "k"))
	if l2.Grants[0].FenceToken <= l1.Grants[0].FenceToken {
		t.Fatalf("fence %d after %d", l2.Grants[0].FenceToken, l1.Grants[0].FenceToken)
	}
	// The key was forgotten in between (nobody held or waited), and its
	// token still went up: the floor carries it.
	if _, _, keys, _ := tb.Counts(); keys != 1 {
		t.Fatalf("keys = %d, want 1", keys)
	}
}

func TestLockContendedMatchesApply(t *testing.T) {
	tb := NewTable("", 0)
	r := AcquireRequest{RequestID: "x", Keys: []string{"k"}, Mode: excl, TTLMs: 1000}
	if tb.Contended(r, 10) {
		t.Fatal("free key reported contended")
	}
	mustGrant(t, acq(t, tb, "h", excl, 0, 10, "k"))
	if !tb.Contended(r, 500) {
		t.Fatal("held key not reported contended")
	}
	if tb.Contended(r, 1010) {
		t.Fatal("a due expiry must go through apply")
	}
	held := AcquireRequest{RequestID: "h", Keys: []string{"k"}, Mode: excl}
	if tb.Contended(held, 500) {
		t.Fatal("a known request id must go through apply")
	}
}

func TestLockSharedSharesAndWriterIsNotStarved(t *testing.T) {
	tb := NewTable("", 0)
	r1 := mustGrant(t, acq(t, tb, "r1", shared, 0, 10, "k"))
	mustGrant(t, acq(t, tb, "r2", shared, 0, 10, "k"))
	w := acq(t, tb, "w", excl, 5000, 11, "k")
	if !w.Waiting {
		t.Fatalf("writer should wait: %+v", w)
	}
	// A reader arriving after the waiting writer queues behind it.
	mustCode(t, acq(t, tb, "r3", shared, 0, 12, "k"), result.CodeExpired)
	r4 := acq(t, tb, "r4", shared, 5000, 12, "k")
	if !r4.Waiting {
		t.Fatalf("late reader should wait: %+v", r4)
	}
	tb.Release(r1.LeaseId, "r1", 13)
	if st := tb.Status("w", w.Attempt); !st.Waiting {
		t.Fatalf("writer granted while a reader holds: %+v", st)
	}
	r2 := tb.Status("r2", 0).Lease
	tb.Release(r2.LeaseId, "r2", 14)
	wl := tb.Status("w", w.Attempt).Lease
	if wl == nil {
		t.Fatal("writer not granted once the readers left")
	}
	if st := tb.Status("r4", r4.Attempt); !st.Waiting {
		t.Fatalf("reader behind the writer granted early: %+v", st)
	}
	tb.Release(wl.LeaseId, "w", 15)
	if tb.Status("r4", r4.Attempt).Lease == nil {
		t.Fatal("reader not granted after the writer")
	}
}

func TestLockReadersBehindReadersGoTogether(t *testing.T) {
	tb := NewTable("", 0)
	w := mustGrant(t, acq(t, tb, "w", excl, 0, 10, "k"))
	a := acq(t, tb, "a", shared, 5000, 11, "k")
	b := acq(t, tb, "b", shared, 5000, 11, "k")
	tb.Release(w.LeaseId, "w", 12)
	if tb.Status("a", a.Attempt).Lease == nil || tb.Status("b", b.Attempt).Lease == nil {
		t.Fatal("both queued readers should be granted together")
	}
}

func TestLockMultiAllOrNoneAndNoDeadlock(t *testing.T) {
	tb := NewTable("", 0)
	hb := mustGrant(t, acq(t, tb, "hb", excl, 0, 10, "b"))
	mustCode(t, acq(t, tb, "m0", excl, 0, 11, "a", "b"), result.CodeExpired)
	if info := tb.Inspect("a"); len(info.Holders) != 0 {
		t.Fatalf("a failed multi-lock left a held: %v", info)
	}
	m1 := acq(t, tb, "m1", excl, 5000, 12, "a", "b")
	m2 := acq(t, tb, "m2", excl, 5000, 12, "b", "a")
	if !m1.Waiting || !m2.Waiting {
		t.Fatal("both should wait")
	}
	// While m1 waits for b, a is not taken by anyone (all or none), and m2
	// (behind m1 on both keys) waits too.
	if info := tb.Inspect("a"); len(info.Holders) != 0 || info.Waiters != 2 {
		t.Fatalf("a = %v", info)
	}
	tb.Release(hb.LeaseId, "hb", 13)
	l1 := tb.Status("m1", m1.Attempt).Lease
	if l1 == nil || len(l1.Grants) != 2 {
		t.Fatal("m1 should hold both keys")
	}
	tb.Release(l1.LeaseId, "m1", 14)
	l2 := tb.Status("m2", m2.Attempt).Lease
	if l2 == nil || l2.Grants[0].Key != "b" || l2.Grants[1].Key != "a" {
		t.Fatalf("m2 = %v", l2)
	}
	if l2.Grants[1].FenceToken <= l1.Grants[0].FenceToken {
		t.Fatal("fence of a did not increase")
	}
}

func TestLockExpiryNeverRevivesAndReleaseCodes(t *testing.T) {
	tb := NewTable("", 0)
	l := mustGrant(t, acq(t, tb, "r", excl, 0, 10, "k"))
	if tb.NextDeadline() != 1010 {
		t.Fatalf("next deadline %d", tb.NextDeadline())
	}
	if o := tb.Renew(l.LeaseId, "other", 0, 500); o.Code != result.CodeNotOwner {
		t.Fatal(o)
	}
	if o := tb.Renew(l.LeaseId, "r", 2000, 500); o.Code != "" || o.Lease.LeaseExpiresAtMs != 2500 {
		t.Fatal(o)
	}
	tb.Tick(2499)
	if n, _, _, _ := tb.Counts(); n != 1 {
		t.Fatal("expired early")
	}
	tb.Tick(2500)
	mustCode(t, tb.Renew(l.LeaseId, "r", 0, 2501), result.CodeLeaseExpired)
	mustCode(t, tb.Release(l.LeaseId, "r", 2501), result.CodeLeaseExpired)
	mustCode(t, tb.Release(l.LeaseId, "x", 2501), result.CodeNotOwner)
	mustCode(t, tb.Acquire(AcquireRequest{RequestID: "r", Keys: []string{"k"}, Mode: excl, TTLMs: 1000, RecoverOnly: true}, 2501), result.CodeLeaseExpired)
	// The same request id never becomes a second grant while its end is
	// remembered, even without recover_only.
	mustCode(t, acq(t, tb, "r", excl, 0, 2502, "k"), result.CodeLeaseExpired)

	l2 := mustGrant(t, acq(t, tb, "r2", excl, 0, 3000, "k"))
	if o := tb.Release(l2.LeaseId, "r2", 3001); o.Code != "" {
		t.Fatal(o)
	}
	if o := tb.Release(l2.LeaseId, "r2", 3002); o.Code != "" {
		t.Fatalf("release retry: %+v", o)
	}
	mustCode(t, tb.Acquire(AcquireRequest{RequestID: "r2", Keys: []string{"k"}, Mode: excl, TTLMs: 1000, RecoverOnly: true}, 3003), result.CodeNotOwner)
	// Tombstones go after the retention; then everything is unknown.
	tb.Tick(3001 + TombstoneRetentionMs)
	if _, _, _, tombs := tb.Counts(); tombs != 0 {
		t.Fatalf("tombs = %d", tombs)
	}
	mustCode(t, tb.Release(l2.LeaseId, "r2", 3001+TombstoneRetentionMs), result.CodeLeaseExpired)
	mustCode(t, tb.Renew("garbage", "r2", 0, 1), result.CodeLeaseExpired)
}

func TestLockRecoverAndTakeOver(t *testing.T) {
	tb := NewTable("", 0)
	l := mustGrant(t, acq(t, tb, "r", excl, 0, 10, "k"))
	again := acq(t, tb, "r", excl, 0, 20, "k")
	if again.Lease == nil || !again.Lease.Recovered || again.Lease.LeaseId != l.LeaseId || again.Lease.Grants[0].FenceToken != l.Grants[0].FenceToken {
		t.Fatalf("re-issue = %+v", again)
	}
	mustCode(t, acq(t, tb, "r", shared, 0, 20, "k"), result.CodeConflict)
	if o := tb.Recover(AcquireRequest{RequestID: "r", Keys: []string{"k"}, Mode: excl}, 1009); o.Lease == nil {
		t.Fatal(o)
	}
	mustCode(t, tb.Recover(AcquireRequest{RequestID: "r", Keys: []string{"k"}, Mode: excl}, 1010), result.CodeLeaseExpired)

	w1 := acq(t, tb, "w", excl, 5000, 30, "k")
	w2 := acq(t, tb, "w", excl, 5000, 40, "k")
	if !w2.Waiting || w2.Attempt == w1.Attempt {
		t.Fatal("re-issue should take the waiter over with a new attempt")
	}
	if st := tb.Status("w", w1.Attempt); !st.TakenOver {
		t.Fatalf("old attempt: %+v", st)
	}
	tb.Cancel("w", w1.Attempt, 41) // the old call's cancel must not drop the new one
	if st := tb.Status("w", w2.Attempt); !st.Waiting {
		t.Fatalf("new attempt dropped by the old cancel: %+v", st)
	}
	tb.Cancel("w", w2.Attempt, 42)
	if st := tb.Status("w", w2.Attempt); st.Waiting || st.Lease != nil {
		t.Fatalf("cancel kept the waiter: %+v", st)
	}
	if info := tb.Inspect("k"); info.Waiters != 0 {
		t.Fatal(info)
	}
}

func TestLockWaiterDeadlineAndCancelUnblocksOthers(t *testing.T) {
	tb := NewTable("", 0)
	h := mustGrant(t, acq(t, tb, "h", shared, 0, 10, "k"))
	w := acq(t, tb, "w", excl, 100, 11, "k")
	r := acq(t, tb, "r", shared, 5000, 12, "k")
	if !r.Waiting {
		t.Fatal("reader behind a waiting writer should wait")
	}
	tb.Tick(111) // the writer's wait ran out: the reader behind it goes
	if st := tb.Status("w", w.Attempt); st.Waiting || st.Lease != nil {
		t.Fatal("writer still waiting")
	}
	if tb.Status("r", r.Attempt).Lease == nil {
		t.Fatal("reader not granted after the writer gave up")
	}
	_ = h
}

func TestLockExpiryBeforeWaitDeadlineGrants(t *testing.T) {
	tb := NewTable("", 0)
	mustGrant(t, acq(t, tb, "h", excl, 0, 0, "k")) // expires at 1000
	w := acq(t, tb, "w", excl, 1500, 1, "k")       // waits until 1501
	tb.Tick(5000)                                  // one late tick handles both, in deadline order
	if tb.Status("w", w.Attempt).Lease == nil {
		t.Fatal("the waiter should get the key freed before its wait ran out")
	}
}

// TestRandomOpsKeepInvariants drives a table with random operations and
// checks after each one that no exclusive grant overlaps another grant and
// that every key's tokens strictly increase.
func TestLockRandomOpsKeepInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tb := NewTable("", 0)
	keys := []string{"a", "b", "c", "d"}
	lastFence := map[string]uint64{}
	type owned struct{ req, lease string }
	var live []owned
	now := int64(0)
	for i := range 20000 {
		now += int64(rng.IntN(50))
		req := fmt.Sprintf("r%d", i)
		switch rng.IntN(6) {
		case 0, 1, 2:
			n := 1 + rng.IntN(3)
			perm := rng.Perm(len(keys))[:n]
			ks := make([]string, n)
			for j, p := range perm {
				ks[j] = keys[p]
			}
			mode := excl
			if rng.IntN(2) == 0 {
				mode = shared
			}
			o := tb.Acquire(AcquireRequest{RequestID: req, Keys: ks, Mode: mode, MaxWaitMs: int64(rng.IntN(3)) * 300, TTLMs: 500 + int64(rng.IntN(1000))}, now)
			if o.Lease != nil {
				live = append(live, owned{req, o.Lease.LeaseId})
			}
		case 3:
			if len(live) > 0 {
				j := rng.IntN(len(live))
				tb.Release(live[j].lease, live[j].req, now)
				live = append(live[:j], live[j+1:]...)
			}
		case 4:
			if len(live) > 0 {
				j := rng.IntN(len(live))
				tb.Renew(live[j].lease, live[j].req, 0, now)
			}
		case 5:
			tb.Tick(now)
		}
		checkInvariants(t, tb, lastFence)
	}
}

func checkInvariants(t *testing.T, tb *Table, lastFence map[string]uint64) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for k, ks := range tb.keys {
		if len(ks.holders) > 1 {
			for _, h := range ks.holders {
				if h.mode != shared {
					t.Fatalf("key %s: exclusive holder among %d", k, len(ks.holders))
				}
			}
		}
		for _, h := range ks.holders {
			for i, hk := range h.keys {
				if hk == k && h.fences[i] > lastFence[k] {
					lastFence[k] = h.fences[i]
				}
			}
		}
		if ks.fence < lastFence[k] {
			t.Fatalf("key %s: counter %d below a granted token %d", k, ks.fence, lastFence[k])
		}
	}
	for k, f := range lastFence {
		if tb.keys[k] == nil && tb.floor < f {
			t.Fatalf("forgotten key %s: floor %d below its token %d", k, tb.floor, f)
		}
	}
}

func apply(t *testing.T, sm *Machine, op uint16, at int64, msg proto.Message) *Outcome {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	res := sm.Apply(fsm.Command{Subsystem: Name, Op: op, AtMs: at, Payload: b})
	o, ok := res.(*Outcome)
	if !ok {
		t.Fatalf("apply result %T %v", res, res)
	}
	return o
}

func TestLockStateMachineSnapshotRestore(t *testing.T) {
	sm := New()
	l := apply(t, sm, OpAcquire, 10, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "r1", Keys: []string{"a", "b"}, LeaseTtlMs: 1000}).Lease
	w := apply(t, sm, OpAcquire, 11, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "r2", Keys: []string{"b"}, MaxWaitMs: 5000, LeaseTtlMs: 1000})
	r3 := apply(t, sm, OpAcquire, 12, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "r3", Keys: []string{"c"}, LeaseTtlMs: 1000}).Lease
	apply(t, sm, OpRelease, 13, &lockpb.LockServiceReleaseRequest{LeaseId: r3.LeaseId, RequestId: "r3"})

	write, err := sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	// Changes after the snapshot must not leak into it.
	apply(t, sm, OpRelease, 14, &lockpb.LockServiceReleaseRequest{LeaseId: l.LeaseId, RequestId: "r1"})

	sm2 := New()
	if err := sm2.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	w2, _ := sm2.Snapshot()
	_ = w2(&again)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatalf("restore is not faithful:\n%s\n%s", buf.Bytes(), again.Bytes())
	}
	// The restored table goes on exactly where the original left off.
	apply(t, sm2, OpRelease, 14, &lockpb.LockServiceReleaseRequest{LeaseId: l.LeaseId, RequestId: "r1"})
	got := sm2.Status("r2", w.Attempt).Lease
	if got == nil || got.Grants[0].FenceToken != l.Grants[1].FenceToken+1 {
		t.Fatalf("waiter after restore: %v", got)
	}
	if o := apply(t, sm2, OpRelease, 15, &lockpb.LockServiceReleaseRequest{LeaseId: r3.LeaseId, RequestId: "r3"}); o.Code != "" {
		t.Fatalf("tombstone lost in restore: %+v", o)
	}
	c := apply(t, sm2, OpAcquire, 16, &lockpb.LockServiceMultiTryAcquireRequest{RequestId: "r4", Keys: []string{"c"}, LeaseTtlMs: 1000}).Lease
	if c.Grants[0].FenceToken <= r3.Grants[0].FenceToken {
		t.Fatal("fence of a forgotten key went back after restore")
	}

	// An empty reader is the empty state.
	if err := sm2.Restore(bytes.NewReader(nil)); err != nil {
		t.Fatal(err)
	}
	if n, w, k, tbs := sm2.Counts(); n+w+k+tbs != 0 {
		t.Fatal("restore of nothing left state")
	}
	if err := sm2.Restore(bytes.NewReader([]byte("{garbage"))); err == nil {
		t.Fatal("garbage snapshot accepted")
	}
}

func TestLockApplyRejectsGarbage(t *testing.T) {
	sm := New()
	for _, cmd := range []fsm.Command{
		{Subsystem: Name, Op: OpAcquire, Payload: []byte{0xff, 0xff}},
		{Subsystem: Name, Op: OpRenew, Payload: []byte{0x0a}},
		{Subsystem: Name, Op: OpRelease, Payload: []byte{0x12, 0x05}},
		{Subsystem: Name, Op: OpCancel, Payload: []byte{0xff}},
		{Subsystem: Name, Op: 99},
	} {
		if _, ok := sm.Apply(cmd).(error); !ok {
			t.Errorf("op %d with garbage: want an error", cmd.Op)
		}
	}
	if n, w, k, tbs := sm.Counts(); n+w+k+tbs != 0 {
		t.Fatal("garbage changed the state")
	}
	id, at, err := DecodeCancel(EncodeCancel("req", 42))
	if err != nil || id != "req" || at != 42 {
		t.Fatal(id, at, err)
	}
}

// TestDeterministic replays one command sequence on two tables and
// compares their snapshots.
func TestLockDeterministic(t *testing.T) {
	run := func() []byte {
		sm := New()
		rng := rand.New(rand.NewPCG(7, 7))
		var leases []*lockpb.LockLease
		for i := range 3000 {
			at := int64(i * 3)
			switch rng.IntN(4) {
			case 0, 1:
				o := apply(t, sm, OpAcquire, at, &lockpb.LockServiceMultiTryAcquireRequest{
					RequestId: fmt.Sprint(i), Keys: []string{fmt.Sprint(rng.IntN(5)), fmt.Sprint(5 + rng.IntN(5))},
					Mode: lockpb.LockMode(1 + rng.IntN(2)), MaxWaitMs: int64(rng.IntN(200)), LeaseTtlMs: 600,
				})
				if o.Lease != nil {
					leases = append(leases, o.Lease)
				}
			case 2:
				if len(leases) > 0 {
					l := leases[rng.IntN(len(leases))]
					apply(t, sm, OpRelease, at, &lockpb.LockServiceReleaseRequest{LeaseId: l.LeaseId, RequestId: l.RequestId})
				}
			case 3:
				sm.Tick(at)
			}
		}
		w, _ := sm.Snapshot()
		var b bytes.Buffer
		_ = w(&b)
		return b.Bytes()
	}
	if a, b := run(), run(); !bytes.Equal(a, b) {
		t.Fatal("two replays of one log diverged")
	}
}

// A contended try says what happened, not only the code: the lock is held
// by another owner and max_wait_ms 0 does not wait. So does a waiter that
// re-issues itself as a try.
func TestLockContendedTrySaysWhy(t *testing.T) {
	tb := NewTable("", 0)
	mustGrant(t, acq(t, tb, "holder", excl, 0, 10, "k"))
	o := acq(t, tb, "try", excl, 0, 11, "k")
	mustCode(t, o, result.CodeExpired)
	if o.Message != MsgContended {
		t.Fatalf("contended try: message %q, want %q", o.Message, MsgContended)
	}
	if o := acq(t, tb, "waiter", excl, 60_000, 12, "k"); !o.Waiting {
		t.Fatalf("want a queued waiter, got %+v", o)
	}
	o = acq(t, tb, "waiter", excl, 0, 13, "k")
	mustCode(t, o, result.CodeExpired)
	if o.Message != MsgContended {
		t.Fatalf("waiter re-issued as a try: message %q, want %q", o.Message, MsgContended)
	}
}

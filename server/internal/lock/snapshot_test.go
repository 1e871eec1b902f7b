package lock

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/snaptest"
)

// busyTable is a table with held locks (exclusive and shared), queued
// waiters, tombstones and a holder history.
func busyTable(t *testing.T, n int) *Machine {
	t.Helper()
	sm := New()
	for i := range n {
		mustGrant(t, sm.Acquire(AcquireRequest{RequestID: "h" + strconv.Itoa(i), Keys: []string{"k" + strconv.Itoa(i)}, Mode: excl, TTLMs: 60_000, Value: "v" + strconv.Itoa(i)}, 10))
	}
	for i := range n / 4 {
		o := sm.Acquire(AcquireRequest{RequestID: "w" + strconv.Itoa(i), Keys: []string{"k" + strconv.Itoa(i)}, Mode: shared, MaxWaitMs: 50_000, TTLMs: 1000}, 11)
		if !o.Waiting {
			t.Fatalf("waiter %d not queued: %+v", i, o)
		}
	}
	for i := range n / 4 {
		o := sm.Acquire(AcquireRequest{RequestID: "e" + strconv.Itoa(i), Keys: []string{"gone" + strconv.Itoa(i)}, Mode: excl, TTLMs: 1000}, 12)
		sm.Release(mustGrant(t, o).LeaseId, "e"+strconv.Itoa(i), 12)
	}
	return sm
}

// churn changes every kind of record the cut shares: renewals (TTL and
// expiry), releases that hand keys to waiters, re-issued waits, new
// grants, checkpoints and a re-arm.
func churn(t *testing.T, sm *Machine, n int, at int64) {
	for i := 0; i < n; i++ {
		switch i % 6 {
		case 0:
			sm.Renew(strconv.Itoa(i+1), "h"+strconv.Itoa(i), 90_000, at)
		case 1:
			sm.Release(strconv.Itoa(i+1), "h"+strconv.Itoa(i), at)
		case 2:
			sm.Acquire(AcquireRequest{RequestID: "w" + strconv.Itoa(i/4), Keys: []string{"k" + strconv.Itoa(i/4)}, Mode: shared, MaxWaitMs: 70_000, TTLMs: 2000}, at)
		case 3:
			sm.Acquire(AcquireRequest{RequestID: "new" + strconv.Itoa(i), Keys: []string{"k" + strconv.Itoa(i), "fresh" + strconv.Itoa(i)}, Mode: excl, MaxWaitMs: 1000, TTLMs: 1000}, at)
		case 4:
			sm.applyCheckpoint([]Checkpoint{{ID: uint64(i + 1), ExpiresAt: at + 500_000}}, at)
		case 5:
			sm.Revoke("k"+strconv.Itoa(i), at)
		}
		at++
	}
	sm.Rearm(at + 100_000)
}

// A snapshot holds exactly the state at its cut: every change applied
// before it, none applied after it, whether the writes land between the
// cut and the writer or while the writer runs.
func TestSnapshotHoldsExactlyTheCut(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprintf("concurrent=%v", concurrent), func(t *testing.T) {
			const n = 400
			sm := busyTable(t, n)
			churn(t, sm, n/2, 20) // before the cut: must all be in it
			want := snapshotV2(t, sm.Table)
			w, err := sm.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			got := snaptest.WriteAround(t, w, concurrent, func() { churn(t, sm, n, 1000) })
			after := snapshotV2(t, sm.Table)
			if bytes.Equal(after, want) {
				t.Fatal("the churn after the cut changed nothing; the test checks nothing")
			}
			r := New()
			if err := r.Restore(bytes.NewReader(got)); err != nil {
				t.Fatal(err)
			}
			if g := snapshotV2(t, r.Table); !bytes.Equal(g, want) {
				t.Fatalf("restored state is not the state at the cut:\n got %.400s\nwant %.400s", g, want)
			}
		})
	}
}

// A restored table equals the original and goes on exactly as it does;
// a version 2 snapshot (one JSON value) still restores to the same state.
func TestSnapshotRoundTripAndVersion2(t *testing.T) {
	sm := busyTable(t, 200)
	want := snapshotV2(t, sm.Table)
	for name, data := range map[string][]byte{"v3": snaptest.Write(t, mustSnapshot(t, sm)), "v2": want} {
		r := New()
		if err := r.Restore(bytes.NewReader(data)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := snapshotV2(t, r.Table); !bytes.Equal(got, want) {
			t.Fatalf("%s: restored state differs", name)
		}
		if !bytes.Equal(snaptest.Write(t, mustSnapshot(t, r)), snaptest.Write(t, mustSnapshot(t, sm))) {
			t.Fatalf("%s: the restored table's snapshot differs from the original's", name)
		}
		// Both go on the same way: the next grant of a held key's waiter,
		// and the next fence token.
		for _, m := range []*Machine{sm, r} {
			m.Release("1", "h0", 30)
			m.Acquire(AcquireRequest{RequestID: "z", Keys: []string{"k199"}, Mode: excl, MaxWaitMs: 10, TTLMs: 10}, 31)
		}
		if !bytes.Equal(snapshotV2(t, r.Table), snapshotV2(t, sm.Table)) {
			t.Fatalf("%s: restored table diverged from the original", name)
		}
		sm = busyTable(t, 200)
	}
}

func mustSnapshot(t *testing.T, sm *Machine) func(io.Writer) error {
	t.Helper()
	w, err := sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A cut-short or corrupted snapshot is an error naming what broke, never a
// panic, and leaves the restoring table as it was.
func TestSnapshotTruncatedOrCorruptIsAnError(t *testing.T) {
	data := snaptest.Write(t, mustSnapshot(t, busyTable(t, 50)))
	r := busyTable(t, 3)
	before := snapshotV2(t, r.Table)
	for cut := 1; cut < len(data); cut += 1 + cut/50 {
		if err := r.Restore(bytes.NewReader(data[:cut])); err == nil {
			t.Fatalf("snapshot cut to %d of %d bytes restored", cut, len(data))
		} else if !strings.HasPrefix(err.Error(), "lock: snapshot") {
			t.Fatalf("cut to %d: error %q does not say it is the lock snapshot", cut, err)
		}
	}
	for i := 0; i < len(data); i += 1 + len(data)/150 {
		bad := bytes.Clone(data)
		bad[i] = 0x01
		if err := r.Restore(bytes.NewReader(bad)); err == nil {
			t.Fatalf("snapshot with byte %d corrupted restored", i)
		}
	}
	if !bytes.Equal(snapshotV2(t, r.Table), before) {
		t.Fatal("a failed restore changed the table")
	}
}

// A snapshot whose writer is dropped unrun (raft could not open a sink)
// stops making apply save before-images once it is collected.
func TestSnapshotDroppedUnrunReleasesItsCut(t *testing.T) {
	sm := busyTable(t, 10)
	func() {
		w := mustSnapshot(t, sm)
		_ = w
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		sm.mu.Lock()
		n := len(sm.liveCuts())
		sm.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cut of a dropped writer is still live")
		}
		runtime.Gosched()
	}
}

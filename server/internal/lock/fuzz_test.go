package lock

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// FuzzLockApply feeds arbitrary payloads to every op: Apply must never
// panic, and the table's invariants must hold whatever it accepted.
func FuzzLockApply(f *testing.F) {
	acquire, _ := proto.Marshal(&lockpb.LockServiceMultiTryAcquireRequest{RequestId: "r", Keys: []string{"a", "b"}, LeaseTtlMs: 1000, MaxWaitMs: 10})
	renew, _ := proto.Marshal(&lockpb.LockServiceRenewRequest{LeaseId: "1", RequestId: "r"})
	release, _ := proto.Marshal(&lockpb.LockServiceReleaseRequest{LeaseId: "1", RequestId: "r"})
	f.Add(uint16(OpAcquire), acquire, int64(5))
	f.Add(uint16(OpRenew), renew, int64(10))
	f.Add(uint16(OpRelease), release, int64(20))
	f.Add(uint16(OpCancel), EncodeCancel("r", 1), int64(30))
	f.Add(uint16(9), []byte{0xff}, int64(-1))
	f.Fuzz(func(t *testing.T, op uint16, payload []byte, at int64) {
		sm := New()
		// Some state first, so the fuzzed command meets holders and waiters.
		sm.Apply(fsm.Command{Subsystem: Name, Op: OpAcquire, AtMs: 1, Payload: acquire})
		w, _ := proto.Marshal(&lockpb.LockServiceMultiTryAcquireRequest{RequestId: "w", Keys: []string{"b"}, LeaseTtlMs: 1000, MaxWaitMs: 100, Mode: lockpb.LockMode_LOCK_MODE_SHARED})
		sm.Apply(fsm.Command{Subsystem: Name, Op: OpAcquire, AtMs: 2, Payload: w})
		sm.Apply(fsm.Command{Subsystem: Name, Op: op % 6, AtMs: at, Payload: payload})
		sm.Tick(at + 500)
		checkInvariants(t, sm.Table, map[string]uint64{})
	})
}

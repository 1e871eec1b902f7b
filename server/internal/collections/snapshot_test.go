package collections

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/snaptest"
)

// busy fills a machine with hash keys (some fields with a TTL), sets and a
// queue.
func busy(t testing.TB, m *Machine, keys, fields int) {
	create(t, m, 1000, hashCfg("h"))
	create(t, m, 1000, setCfg("s"))
	create(t, m, 1000, queueCfg("q", &pb.QueueConfig{VisibilityTimeoutMs: 100}))
	for k := range keys {
		req := &pb.CollectionsServiceHSetRequest{Store: "h", Key: "k" + strconv.Itoa(k), Fields: map[string][]byte{}}
		for f := range fields {
			req.Fields["f"+strconv.Itoa(f)] = []byte("v" + strconv.Itoa(k*fields+f))
		}
		apply[*pb.CollectionsServiceHSetResponse](t, m, OpHSet, 1001, req)
		apply[*pb.CollectionsServiceHExpireResponse](t, m, OpHExpire, 1001, &pb.CollectionsServiceHExpireRequest{Store: "h", Key: req.Key, Fields: []string{"f0"}, TtlMs: 10_000})
		var members [][]byte
		for f := range fields {
			members = append(members, []byte("m"+strconv.Itoa(f)))
		}
		apply[*pb.CollectionsServiceSAddResponse](t, m, OpSAdd, 1001, &pb.CollectionsServiceSAddRequest{Store: "s", Key: req.Key, Members: members})
		apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, 1001, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Payload: []byte(req.Key)})
	}
}

// churn changes every kind of key the cut shares: fields set, deleted,
// expired by TTL and persisted, whole keys deleted, set members added,
// removed, popped and moved, set algebra into a key, queue pops and pushes.
func churn(t testing.TB, m *Machine, keys int, at int64) {
	for k := range keys {
		key := "k" + strconv.Itoa(k)
		switch k % 7 {
		case 0:
			apply[*pb.CollectionsServiceHSetResponse](t, m, OpHSet, at, &pb.CollectionsServiceHSetRequest{Store: "h", Key: key, Fields: map[string][]byte{"f1": []byte("changed"), "new": []byte("x")}})
		case 1:
			apply[*pb.CollectionsServiceHDelResponse](t, m, OpHDel, at, &pb.CollectionsServiceHDelRequest{Store: "h", Key: key, Fields: []string{"f1", "f2"}})
		case 2:
			apply[*pb.CollectionsServiceHPersistResponse](t, m, OpHPersist, at, &pb.CollectionsServiceHPersistRequest{Store: "h", Key: key, Fields: []string{"f0"}})
		case 3:
			apply[*pb.CollectionsServiceDeleteKeysResponse](t, m, OpDeleteKeys, at, &pb.CollectionsServiceDeleteKeysRequest{Store: "h", Keys: []string{key}})
			apply[*pb.CollectionsServiceDeleteKeysResponse](t, m, OpDeleteKeys, at, &pb.CollectionsServiceDeleteKeysRequest{Store: "s", Keys: []string{key}})
		case 4:
			apply[*pb.CollectionsServiceSRemResponse](t, m, OpSRem, at, &pb.CollectionsServiceSRemRequest{Store: "s", Key: key, Members: [][]byte{[]byte("m0")}})
			apply[*pb.CollectionsServiceSAddResponse](t, m, OpSAdd, at, &pb.CollectionsServiceSAddRequest{Store: "s", Key: key, Members: [][]byte{[]byte("added")}})
		case 5:
			apply[*pb.CollectionsServiceSPopResponse](t, m, OpSPop, at, &pb.CollectionsServiceSPopRequest{Store: "s", Key: key, Count: 2})
			apply[*pb.CollectionsServiceSMoveResponse](t, m, OpSMove, at, &pb.CollectionsServiceSMoveRequest{Store: "s", Source: key, Destination: "k0", Member: []byte("m3")})
		case 6:
			apply[*pb.CollectionsServiceSUnionResponse](t, m, OpSUnionStore, at, &pb.CollectionsServiceSUnionRequest{Store: "s", Keys: []string{"k0", key}, Destination: key})
			p := apply[*pb.CollectionsServiceQueuePopResponse](t, m, OpQueuePop, at, &pb.CollectionsServiceQueuePopRequest{Queue: "q", MaxMessages: 3})
			if ms := p.GetMessages(); len(ms) == 3 {
				delay := int64(1000)
				apply[*pb.CollectionsServiceQueueNackResponse](t, m, OpQueueNack, at, &pb.CollectionsServiceQueueNackRequest{Queue: "q", Receipt: ms[0].GetReceipt(), DelayMs: delay})
				apply[*pb.CollectionsServiceQueueExtendVisibilityResponse](t, m, OpQueueExtend, at, &pb.CollectionsServiceQueueExtendVisibilityRequest{Queue: "q", Receipt: ms[1].GetReceipt(), VisibilityTimeoutMs: 5000})
				apply[*pb.CollectionsServiceQueueAckResponse](t, m, OpQueueAck, at, &pb.CollectionsServiceQueueAckRequest{Queue: "q", Receipt: ms[2].GetReceipt()})
			}
			apply[*pb.CollectionsServiceQueuePushResponse](t, m, OpQueuePush, at, &pb.CollectionsServiceQueuePushRequest{Queue: "q", Payload: []byte("after")})
		}
		at++
	}
	m.Rearm(at + 50)
	m.Tick(at + 20_000) // the f0 fields with a TTL expire, messages come back
}

// A snapshot holds exactly the state at its cut: everything applied before
// it, nothing applied after it, whether the writes land between the cut and
// the writer or while the writer runs.
func TestSnapshotHoldsExactlyTheCut(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprintf("concurrent=%v", concurrent), func(t *testing.T) {
			const keys = 200
			m := New()
			busy(t, m, keys, 8)
			churn(t, m, keys/2, 2000) // before the cut: must all be in it
			w, err := m.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			want := snapshot(t, m) // a second cut of the same state, written at once
			got := snaptest.WriteAround(t, w, concurrent, func() { churn(t, m, keys, 40_000) })
			if after := snapshot(t, m); bytes.Equal(after, want) {
				t.Fatal("the churn after the cut changed nothing; the test checks nothing")
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("the snapshot is not the state at its cut (%d bytes, want %d)", len(got), len(want))
			}
			r := New()
			if err := r.Restore(bytes.NewReader(got)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(snapshot(t, r), want) {
				t.Fatal("the restored state is not the state at the cut")
			}
		})
	}
}

// v1 is a version 1 snapshot of the same state as the version 2 snapshot
// v2: version 2 kept version 1's layout and added the checksum after it.
func v1(v2 []byte) []byte {
	b := bytes.Clone(v2[:len(v2)-4])
	b[0] = snapshotVersionV1
	return b
}

// A restored machine equals the original and goes on exactly as it does
// (SPOP draws the same members); a version 1 snapshot restores the same.
func TestSnapshotRoundTripAndVersion1(t *testing.T) {
	m := New()
	busy(t, m, 50, 6)
	data := snapshot(t, m)
	for name, b := range map[string][]byte{"v2": data, "v1": v1(data)} {
		r := New()
		if err := r.Restore(bytes.NewReader(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(snapshot(t, r), data) {
			t.Fatalf("%s: restored state differs", name)
		}
		o := New()
		if err := o.Restore(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		churn(t, o, 50, 5000)
		churn(t, r, 50, 5000)
		if !bytes.Equal(snapshot(t, r), snapshot(t, o)) {
			t.Fatalf("%s: the restored machine diverged from the original", name)
		}
	}
}

// A cut-short or corrupted snapshot is an error naming the collections
// snapshot, never a panic, and changes nothing.
func TestSnapshotTruncatedOrCorruptIsAnError(t *testing.T) {
	m := New()
	busy(t, m, 30, 4)
	data := snapshot(t, m)
	r := New()
	busy(t, r, 2, 2)
	before := snapshot(t, r)
	for cut := 1; cut < len(data); cut += 1 + cut/40 {
		err := r.Restore(bytes.NewReader(data[:cut]))
		if err == nil {
			t.Fatalf("snapshot cut to %d of %d bytes restored", cut, len(data))
		}
		if !strings.HasPrefix(err.Error(), "collections: ") {
			t.Fatalf("cut to %d: %q does not name the collections snapshot", cut, err)
		}
	}
	for i := 1; i < len(data); i += 1 + len(data)/200 {
		bad := bytes.Clone(data)
		bad[i] ^= 0x5a
		if err := r.Restore(bytes.NewReader(bad)); err == nil {
			t.Fatalf("snapshot with byte %d corrupted restored", i)
		}
	}
	if !bytes.Equal(snapshot(t, r), before) {
		t.Fatal("a failed restore changed the state")
	}
}

// A snapshot whose writer is dropped unrun (raft could not open a sink)
// stops making apply copy keys once it is collected.
func TestSnapshotDroppedUnrunReleasesItsCut(t *testing.T) {
	m := New()
	busy(t, m, 3, 2)
	func() {
		w, err := m.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		_ = w
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		m.mu.Lock()
		shared := m.cow.shares(0)
		m.mu.Unlock()
		if !shared {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cut of a dropped writer is still live")
		}
		runtime.Gosched()
	}
}

package sketch

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
)

// moreWrites drives the mutations workload does not: count-min merge,
// t-digest reset, and delete + recreate of a sketch.
func moreWrites(t testing.TB, s *Machine, round int) {
	t.Helper()
	if round == 0 {
		create(t, s, cmsCfg("c2", 64, 4))
		create(t, s, tdCfg("t3", 0))
	}
	mustOK[*sketchpb.SketchServiceCMSMergeResponse](t, s, OpCMSMerge, &sketchpb.SketchServiceCMSMergeRequest{Name: "c2", Sources: []string{"c", "c"}})
	mustOK[*sketchpb.SketchServiceTDigestAddResponse](t, s, OpTDigestAdd, &sketchpb.SketchServiceTDigestAddRequest{Name: "t3", Values: []float64{float64(round), 2}})
	if round%2 == 1 {
		mustOK[*sketchpb.SketchServiceTDigestResetResponse](t, s, OpTDigestReset, &sketchpb.SketchServiceTDigestResetRequest{Name: "t3"})
	}
	mustOK[*sketchpb.SketchServiceDeleteSketchResponse](t, s, OpDelete, &sketchpb.SketchServiceDeleteSketchRequest{Name: "h2"})
	create(t, s, hllCfg("h2"))
}

// gateWriter blocks the first write until proceed is closed, so a test can
// apply commands while a snapshot writer is in the middle of its output.
type gateWriter struct {
	buf     bytes.Buffer
	once    sync.Once
	started chan struct{}
	proceed chan struct{}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.started)
		<-g.proceed
	})
	return g.buf.Write(p)
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestSnapshotHoldsTheCut: the snapshot's bytes are exactly those of the
// state when Snapshot was called, although commands change the same
// sketches (every mutating op, delete and recreate included) between the
// cut and the writer's run and while the writer is writing; the live
// state has all the later commands.
func TestSnapshotHoldsTheCut(t *testing.T) {
	s, ref := New(Limits{}), New(Limits{})
	both := func(round int) {
		for _, m := range []*Machine{s, ref} {
			workload(t, m, round)
			moreWrites(t, m, round)
		}
	}
	// A large sketch sorting first, so the writer's first write to the
	// sink happens before it has encoded the others.
	create(t, s, bloomCfg("a", 1_000_000, 0.01))
	create(t, ref, bloomCfg("a", 1_000_000, 0.01))
	both(0)
	atCut := snapshotBytes(t, s)

	w, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 3; round++ {
		both(round)
		mustOK[*sketchpb.SketchServiceBloomAddResponse](t, s, OpBloomAdd, &sketchpb.SketchServiceBloomAddRequest{Name: "a", Item: fmt.Appendf(nil, "x%d", round)})
		mustOK[*sketchpb.SketchServiceBloomAddResponse](t, ref, OpBloomAdd, &sketchpb.SketchServiceBloomAddRequest{Name: "a", Item: fmt.Appendf(nil, "x%d", round)})
	}
	g := &gateWriter{started: make(chan struct{}), proceed: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- w(g) }()
	waitFor(t, g.started, "the writer's first write")
	for round := 4; round <= 6; round++ {
		both(round)
	}
	close(g.proceed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.buf.Bytes(), atCut) {
		t.Fatal("the snapshot is not the state at the cut: commands applied after it leaked in")
	}
	live := snapshotBytes(t, s)
	if bytes.Equal(live, atCut) {
		t.Fatal("the live state lost the commands applied after the cut")
	}
	if !bytes.Equal(live, snapshotBytes(t, ref)) {
		t.Fatal("the live state differs from a replica that applied the same commands without a snapshot")
	}
	r := New(Limits{})
	if err := r.Restore(bytes.NewReader(g.buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snapshotBytes(t, r), atCut) {
		t.Fatal("restoring the snapshot does not give the state at the cut")
	}
}

// TestSnapshotFreezeReleased: while a writer has not run, a change copies
// the sketch; once it ran, or was dropped unrun, changes are in place again.
func TestSnapshotFreezeReleased(t *testing.T) {
	s := New(Limits{})
	create(t, s, hllCfg("h"))
	add := func() *entry {
		mustOK[*sketchpb.SketchServiceHLLAddResponse](t, s, OpHLLAdd, &sketchpb.SketchServiceHLLAddRequest{Name: "h", Items: [][]byte{[]byte("x")}})
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.sketches["h"]
	}
	before := add()
	w, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if add() == before {
		t.Fatal("a frozen sketch was changed in place")
	}
	if err := w(&bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	cur := add()
	if add() != cur {
		t.Fatal("a sketch is still copied after the writer finished")
	}

	func() {
		if _, err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		s.mu.RLock()
		free := len(s.live) == 0 && s.minLive == math.MaxUint64
		s.mu.RUnlock()
		if free {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a writer dropped unrun still freezes the sketches")
		}
		runtime.Gosched()
	}
	cur = add()
	if add() != cur {
		t.Fatal("a sketch is still copied after its writer was dropped")
	}
}

// snapshotV1 is the version 1 encoder as it was before snapshots streamed
// (the whole state in one buffer), kept to test that old data dirs restore.
func snapshotV1(t *testing.T, s *Machine) []byte {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := &enc{b: []byte{1}}
	names := make([]string, 0, len(s.sketches))
	for n := range s.sketches {
		names = append(names, n)
	}
	slices.Sort(names)
	e.uvarint(uint64(len(names)))
	for _, n := range names {
		x := s.sketches[n]
		cfg, err := proto.MarshalOptions{Deterministic: true}.Marshal(x.config)
		if err != nil {
			t.Fatal(err)
		}
		e.bytes(cfg)
		e.varint(x.createdAt)
		switch {
		case x.bloom != nil:
			if err := x.bloom.encode(e); err != nil {
				t.Fatal(err)
			}
		case x.hll != nil:
			x.hll.encode(e)
		case x.cms != nil:
			x.cms.encode(e)
		case x.topk != nil:
			x.topk.encode(e)
		case x.td != nil:
			x.td.encode(e)
		}
	}
	return e.b
}

func TestSnapshotV1StillRestores(t *testing.T) {
	s := New(Limits{})
	for round := range 3 {
		workload(t, s, round)
		moreWrites(t, s, round)
	}
	r := New(Limits{})
	if err := r.Restore(bytes.NewReader(snapshotV1(t, s))); err != nil {
		t.Fatal(err)
	}
	want := snapshotBytes(t, s)
	if want[0] != 2 {
		t.Fatalf("snapshots are written as version %d, want 2", want[0])
	}
	if !bytes.Equal(snapshotBytes(t, r), want) {
		t.Fatal("a version 1 snapshot restored a different state")
	}
}

// TestSnapshotTruncatedOrCorrupt: a version 2 snapshot cut short anywhere,
// or with any byte changed, is refused with an error naming the subsystem,
// and the state stays as it was.
func TestSnapshotTruncatedOrCorrupt(t *testing.T) {
	src := New(Limits{})
	for round := range 3 {
		workload(t, src, round)
		moreWrites(t, src, round)
	}
	snap := snapshotBytes(t, src)
	m := New(Limits{})
	create(t, m, hllCfg("other"))
	before := snapshotBytes(t, m)
	check := func(what string, data []byte) {
		t.Helper()
		err := m.Restore(bytes.NewReader(data))
		if err == nil {
			t.Fatalf("%s: restored", what)
		}
		if !strings.HasPrefix(err.Error(), "sketch: ") {
			t.Fatalf("%s: error %q does not name the sketch subsystem", what, err)
		}
		if !bytes.Equal(snapshotBytes(t, m), before) {
			t.Fatalf("%s: a refused restore changed the state", what)
		}
	}
	for n := 1; n < len(snap); n += 1 + len(snap)/300 {
		check(fmt.Sprintf("first %d of %d bytes", n, len(snap)), snap[:n])
	}
	check("last byte missing", snap[:len(snap)-1])
	for i := 0; i < len(snap); i += 1 + len(snap)/100 {
		bad := slices.Clone(snap)
		bad[i] ^= 0x5a
		check(fmt.Sprintf("byte %d changed", i), bad)
	}
	check("a byte past the checksum", append(slices.Clone(snap), 0))
	if err := m.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
}

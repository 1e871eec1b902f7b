package cluster

import (
	"bytes"
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

func apply(t *testing.T, m *Machine, op uint16, msg proto.Message, at int64) {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if res, isErr := m.Apply(fsm.Command{Subsystem: Name, Op: op, AtMs: at, Payload: b}).(error); isErr {
		t.Fatalf("apply op %d: %v", op, res)
	}
}

func snapshot(t *testing.T, m *Machine) []byte {
	t.Helper()
	w, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := w(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Staging intents are set and cleared by their ops, survive a snapshot,
// and a snapshot written before staging existed restores with none.
func TestStagingAndSnapshot(t *testing.T) {
	m := New()
	apply(t, m, OpAnnounce, &clusterpb.ClusterServiceAnnounceRequest{Id: "a", ClientAddress: "127.0.0.1:1"}, 1)
	apply(t, m, OpStage, &clusterpb.ClusterServiceAddVoterRequest{Id: "b", RaftAddress: "127.0.0.1:2"}, 5)
	apply(t, m, OpStage, &clusterpb.ClusterServiceAddVoterRequest{Id: "c", RaftAddress: "127.0.0.1:3"}, 6)
	apply(t, m, OpUnstage, &clusterpb.ClusterServiceRemoveServerRequest{Id: "c"}, 7)
	apply(t, m, OpUnstage, &clusterpb.ClusterServiceRemoveServerRequest{Id: "nobody"}, 8)
	if !m.IsStaged("b") || m.IsStaged("c") {
		t.Fatalf("staged: %+v; want b alone", m.Staged())
	}
	r := New()
	if err := r.Restore(bytes.NewReader(snapshot(t, m))); err != nil {
		t.Fatal(err)
	}
	if got := r.Staged(); len(got) != 1 || got[0] != (Staged{ID: "b", RaftAddr: "127.0.0.1:2", AtMs: 5}) || r.ClientAddr("a") != "127.0.0.1:1" {
		t.Fatalf("restored: staged %+v, a at %q", got, r.ClientAddr("a"))
	}

	// The format before staging: bootstrap, then the address pairs.
	var old []byte
	old = appendString(old, "a=127.0.0.1:7001")
	old = binary.AppendUvarint(old, 1)
	old = appendString(appendString(old, "a"), "127.0.0.1:1")
	if err := r.Restore(bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	if len(r.Staged()) != 0 || r.ClientAddr("a") != "127.0.0.1:1" || r.Bootstrap() != "a=127.0.0.1:7001" {
		t.Fatalf("restored an old snapshot: staged %+v, a at %q, bootstrap %q", r.Staged(), r.ClientAddr("a"), r.Bootstrap())
	}
	// A truncated staging section is refused, not half-restored.
	full := snapshot(t, m)
	if err := New().Restore(bytes.NewReader(full[:len(full)-1])); err == nil {
		t.Fatal("a truncated snapshot restored")
	}
}

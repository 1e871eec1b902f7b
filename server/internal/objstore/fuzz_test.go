package objstore

import (
	"bytes"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// FuzzApply feeds arbitrary payloads to every op: apply must answer (an
// error value at worst) and never panic.
func FuzzApply(f *testing.F) {
	p, _ := EncodeCommit(newBlobID(), &objstorepb.ObjectInfo{Store: "s", Name: "n", Size: 3})
	f.Add(uint16(OpCommit), p)
	f.Add(uint16(OpDiscard), []byte("0123456789abcdef0123456789abcdef"))
	f.Add(uint16(OpChunk), EncodeChunk(newBlobID(), 1024, 2, []byte("abc")))
	f.Add(uint16(OpCreateStore), []byte{10, 3, 10, 1, 's'})
	f.Fuzz(func(t *testing.T, op uint16, payload []byte) {
		m, err := New("")
		if err != nil {
			t.Fatal(err)
		}
		m.Apply(fsm.Command{Subsystem: Name, Op: op % 10, AtMs: 1, Payload: payload})
		m.Tick(2)
	})
}

// FuzzRestore feeds arbitrary snapshots to Restore: it fails or succeeds,
// never panics.
func FuzzRestore(f *testing.F) {
	m, _ := New("")
	w, _ := m.Snapshot()
	var buf bytes.Buffer
	_ = w(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("WMOS\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := New("")
		if err != nil {
			t.Fatal(err)
		}
		_ = m.Restore(bytes.NewReader(data))
	})
}

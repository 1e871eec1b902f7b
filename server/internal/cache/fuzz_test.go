package cache

import (
	"bytes"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// FuzzApply feeds arbitrary payloads to every op: apply must answer (an
// error value at worst) and never panic.
func FuzzApply(f *testing.F) {
	f.Add(uint16(OpEvict), EncodeEvict("b", []Victim{{"a", 1}}))
	f.Add(uint16(OpAttach), []byte{10, 5, 10, 1, 'b', 16, 1})
	f.Fuzz(func(t *testing.T, op uint16, payload []byte) {
		_, m := setup(t)
		m.Apply(fsm.Command{Subsystem: Name, Op: op % 5, AtMs: 1, Payload: payload})
		m.Tick(2)
	})
}

// FuzzRestore feeds arbitrary snapshots to Restore.
func FuzzRestore(f *testing.F) {
	f.Add([]byte("WMCA\x01\x01\x02\x0a\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, m := setup(t)
		_ = m.Restore(bytes.NewReader(data))
	})
}

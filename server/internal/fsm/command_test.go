package fsm

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

var commandSeeds = []Command{
	{},
	{Subsystem: "kv", Op: 1, AtMs: 1_700_000_000_000, Payload: []byte("hello")},
	{Subsystem: "lock", Op: math.MaxUint16, AtMs: -1},
	{Subsystem: strings.Repeat("x", MaxSubsystemNameLen), AtMs: math.MaxInt64, Payload: bytes.Repeat([]byte{0}, 300)},
	{Subsystem: "s", AtMs: math.MinInt64, Payload: []byte{1}},
	TickCommand(42),
	{Subsystem: "kv", Op: 2, AtMs: 5, Fence: Fence{Key: "leader", Token: 7}, Payload: []byte("v")},
	{Subsystem: "kv", Op: 2, AtMs: 5, RequestID: "r1", Fence: Fence{Key: "k", Token: math.MaxUint64}},
}

func TestCommandRoundTrip(t *testing.T) {
	for _, c := range commandSeeds {
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%+v)): %v", c, err)
		}
		if got.Subsystem != c.Subsystem || got.Op != c.Op || got.AtMs != c.AtMs || got.RequestID != c.RequestID || got.Fence != c.Fence || !bytes.Equal(got.Payload, c.Payload) {
			t.Fatalf("round trip: got %+v, want %+v", got, c)
		}
	}
}

func TestCommandMarshalRejectsLongName(t *testing.T) {
	_, err := Command{Subsystem: strings.Repeat("x", MaxSubsystemNameLen+1)}.Marshal()
	if !errors.Is(err, ErrBadCommand) {
		t.Fatalf("err = %v", err)
	}
}

func TestCommandWithFenceRejectsBadFence(t *testing.T) {
	for _, f := range []Fence{{Key: "k"}, {Key: strings.Repeat("k", MaxFenceKeyLen+1), Token: 1}} {
		if _, err := (Command{Subsystem: "kv", Fence: f}).Marshal(); !errors.Is(err, ErrBadCommand) {
			t.Errorf("Marshal with fence %.20q/%d: err = %v, want ErrBadCommand", f.Key, f.Token, err)
		}
	}
	// A version-3 command whose token decodes as 0 is malformed.
	b, _ := Command{Subsystem: "kv", Fence: Fence{Key: "k", Token: 1}}.Marshal()
	b[len(b)-1] = 0
	if _, err := Unmarshal(b); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("token 0: err = %v", err)
	}
}

func TestCommandDecodeGarbage(t *testing.T) {
	good, _ := Command{Subsystem: "kv", Op: 3, AtMs: 99, Payload: []byte("p")}.Marshal()
	// Every strict prefix up to the timestamp is malformed.
	for cut := 0; cut < len(good)-1; cut++ {
		if _, err := Unmarshal(good[:cut]); !errors.Is(err, ErrBadCommand) {
			t.Errorf("prefix %d: err = %v", cut, err)
		}
	}
}

// FuzzCommandDecode checks that Unmarshal never panics and that whatever it
// accepts re-encodes to a command that decodes identically.
// Run with: go test -fuzz=FuzzCommandDecode ./internal/fsm
func FuzzCommandDecode(f *testing.F) {
	for _, c := range commandSeeds {
		b, _ := c.Marshal()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{2, 2, 'k', 'v', 0, 1, 0, 3, 'r', 'i', 'd', 9})
	f.Add([]byte{1, 0x80})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Unmarshal(data)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error not wrapping ErrBadCommand: %v", err)
			}
			return
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("re-marshal of accepted command: %v", err)
		}
		c2, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if c2.Subsystem != c.Subsystem || c2.Op != c.Op || c2.AtMs != c.AtMs || c2.RequestID != c.RequestID || c2.Fence != c.Fence || !bytes.Equal(c2.Payload, c.Payload) {
			t.Fatalf("re-decode differs: %+v vs %+v", c2, c)
		}
	})
}

package fsm

import "io"

// Subsystem is one deterministic state machine (locks, KV, streams, ...)
// replicated through raft. The FSM calls it from a single goroutine for
// Apply, Tick, Snapshot and Restore, so those four never run concurrently
// with each other; only NextDeadline and the writer returned by Snapshot run
// on other goroutines, and the API layer's reads do too, so a subsystem
// guards its state with its own mutex.
//
// Determinism is the whole contract: every replica, and every replay of the
// log after a restart, must reach the same state from the same commands. So
// Apply and Tick read no clock (use Command.AtMs / atMs), draw no random
// numbers, start no goroutines, iterate maps only in a sorted order when the
// order affects state, and depend on nothing but the state and the command.
type Subsystem interface {
	// Name is the subsystem's registered name, also used in Command.Subsystem
	// and to frame snapshots. It must never change once data exists.
	// A valid name is 1..64 bytes of [a-z0-9_], starting with a letter.
	Name() string

	// Apply applies one committed command and returns the response handed
	// back to the proposer, conventionally a proto response message with a
	// Result. A malformed payload or unknown Op must be answered with an
	// error value (returned, not panicked) and leave the state unchanged.
	// A returned error reaches the proposer as Propose's error.
	Apply(cmd Command) any

	// Tick expires whatever is due as of atMs (leases, TTLs, ack waits). The
	// leader proposes a tick whenever NextDeadline says one is due, so Tick
	// runs through the log like any command and every replica expires the
	// same things at the same point.
	Tick(atMs int64)

	// NextDeadline returns the earliest atMs at which Tick would change
	// something, or 0 when nothing is pending. It is called from the leader's
	// ticker goroutine, concurrently with Apply, so it takes the subsystem's
	// lock. Answering too early only costs a no-op tick; answering too late
	// delays expiry.
	NextDeadline() int64

	// Snapshot captures a point-in-time copy of the state and returns a
	// function that writes it. Snapshot itself runs on the FSM goroutine
	// (no Apply in between), so it must be quick: copy or freeze what the
	// writer needs. The writer runs later on another goroutine, concurrently
	// with Apply, and must not touch live state.
	Snapshot() (write func(w io.Writer) error, err error)

	// Restore replaces the whole state with what a writer from Snapshot
	// wrote. An empty reader means "empty state": a subsystem that is absent
	// from a snapshot (it was added after the snapshot was taken) is reset
	// this way. Waiters in the API layer should be woken, since anything may
	// have changed.
	Restore(r io.Reader) error
}

package stream

import "git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"

var _ fsm.Subsystem = (*Machine)(nil)

// Name implements fsm.Subsystem.
func (m *Machine) Name() string { return Name }

// Apply implements fsm.Subsystem. The payload is decoded (copied) before
// anything keeps it, as fsm.Command requires.
func (m *Machine) Apply(cmd fsm.Command) any { return m.ApplyOp(cmd.Op, cmd.AtMs, cmd.Payload) }

package kv

import "git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"

// Subsystem adapts a Machine to the FSM's Subsystem contract.
type Subsystem struct{ *Machine }

var _ fsm.Subsystem = Subsystem{}

// Name implements fsm.Subsystem.
func (Subsystem) Name() string { return Name }

// Apply implements fsm.Subsystem.
func (s Subsystem) Apply(cmd fsm.Command) any { return s.ApplyOp(cmd.Op, cmd.AtMs, cmd.Payload) }

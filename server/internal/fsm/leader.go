package fsm

// opRearmLeader is opRearm that also switches every LeaderExpirer to
// deadlines decided by the leader (LeaderDecides). A new op, so that logs
// written before it replay with the lazy expiry they were written with.
const opRearmLeader uint16 = 3

// LeaderExpirer is implemented by a subsystem whose deadlines the leader
// keeps in its own memory (lock leases renewed without a log write): once
// LeaderDecides has been applied, such a deadline ends only by a command
// the leader proposes from LeaderCommands, never by an apply reading the
// command's time, so every replica decides the same and a deadline
// extended in the leader's memory is never ended early.
type LeaderExpirer interface {
	// LeaderDecides switches the subsystem to leader-decided deadlines at
	// this point of the log. Applied with a new leader's re-arm.
	LeaderDecides()
	// LeaderCommands returns the commands the leader proposes at nowMs
	// (expiries due by its memory, checkpoints of its memory). Called on
	// the leader's ticker goroutine, concurrently with Apply.
	LeaderCommands(nowMs int64) []Command
}

// LeaderCommands collects every LeaderExpirer's LeaderCommands at nowMs,
// in registration order. Safe to call from any goroutine.
func (f *FSM) LeaderCommands(nowMs int64) []Command {
	var cmds []Command
	for _, s := range f.subs {
		if le, ok := s.(LeaderExpirer); ok {
			cmds = append(cmds, le.LeaderCommands(nowMs)...)
		}
	}
	return cmds
}

// rearm applies a re-arm command: Rearm on every Rearmer, then, for
// opRearmLeader, LeaderDecides on every LeaderExpirer.
func (f *FSM) rearm(cmd Command) (result any) {
	for _, s := range f.subs {
		if r, ok := s.(Rearmer); ok {
			f.guard(s.Name(), "Rearm", func() { r.Rearm(cmd.AtMs) }, &result)
		}
	}
	if cmd.Op == opRearmLeader {
		for _, s := range f.subs {
			if le, ok := s.(LeaderExpirer); ok {
				f.guard(s.Name(), "LeaderDecides", le.LeaderDecides, &result)
			}
		}
	}
	return result
}

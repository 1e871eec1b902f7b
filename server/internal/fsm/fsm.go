package fsm

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// tickSubsystem is the reserved Command.Subsystem of the FSM's own commands.
// The leading underscore keeps it out of the space of valid subsystem names.
const tickSubsystem = "_fsm"

// The FSM's own ops: opTick calls Tick(AtMs) on every subsystem; opRearm
// calls Rearm(AtMs) on every subsystem that implements Rearmer.
const (
	opTick  uint16 = 1
	opRearm uint16 = 2
)

// Rearmer is implemented by a subsystem with deadlines a client keeps
// alive (lock leases): Rearm gives each of them a full period from atMs
// when that is later than its deadline. A new leader commits a re-arm
// before it expires anything (raftnode), as etcd's lessor does on
// promotion, so a change of leader never ends a lease early.
type Rearmer interface {
	Rearm(atMs int64)
}

// RearmCommand is the command a new leader proposes to re-arm every lease
// and to leave the expiry of leases to the leader (LeaderExpirer).
func RearmCommand(atMs int64) Command {
	return Command{Subsystem: tickSubsystem, Op: opRearmLeader, AtMs: atMs}
}

// ErrUnknownSubsystem is returned (as an Apply result) for a command naming
// no registered subsystem, e.g. a log written by a newer server.
var ErrUnknownSubsystem = errors.New("fsm: unknown subsystem")

// FSM is the raft.FSM of the server: it decodes each log entry's Command and
// dispatches it to the Subsystem it names, snapshots every subsystem into one
// raft snapshot, and restores them all from it.
//
// Register every subsystem before raft starts: replay and restore need them
// all from the first entry, so Register fails once the FSM has been used.
type FSM struct {
	log    *zap.Logger
	subs   []Subsystem // registration order: the order of ticks and snapshot frames
	byName map[string]Subsystem
	names  map[string]string // every registered name and tickSubsystem, to intern
	sealed atomic.Bool

	// clock is the largest AtMs applied so far. Commands carry the leader's
	// wall clock, which can step back (NTP, a new leader with a slower
	// clock); clamping to clock keeps time monotonic for every subsystem, so
	// a lease never un-expires. Touched only on the FSM goroutine.
	clock int64

	// fencer checks the fences of commands (fence.go): the first
	// registered subsystem that is a Fencer.
	fencer Fencer

	// dedup remembers the answers to commands with a request id.
	dedup *dedup

	// applied is the raft index of the last entry applied, or of the
	// snapshot last restored. A read that must see every entry up to a
	// read index waits until it gets there.
	applied atomic.Uint64
}

// AppliedIndex is the raft index of the last log entry the FSM has
// finished applying (or of the snapshot it last restored). Raft's own
// AppliedIndex counts entries handed to the FSM, which may not have been
// applied yet. Safe to call from any goroutine.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

var _ raft.FSM = (*FSM)(nil)

// New returns an FSM with no subsystems that remembers request ids with
// the default DedupConfig. A nil logger discards.
func New(logger *zap.Logger) *FSM {
	return NewWithDedup(logger, DedupConfig{})
}

// NewWithDedup is New with the bounds of what is remembered of request ids.
// Every replica of one cluster must use the same bounds.
func NewWithDedup(logger *zap.Logger, cfg DedupConfig) *FSM {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &FSM{log: logger, byName: map[string]Subsystem{}, names: map[string]string{tickSubsystem: tickSubsystem}, dedup: newDedup(cfg)}
}

// Remembered returns the response the FSM answered to the command of
// subsystem with requestID, when it still remembers it. Safe to call from
// any goroutine; it reads local state.
func (f *FSM) Remembered(subsystem, requestID string) (any, bool) {
	return f.dedup.Lookup(subsystem, requestID)
}

// Register adds a subsystem. It fails on an invalid or duplicate name, and
// once the FSM has applied, snapshotted or restored anything.
func (f *FSM) Register(s Subsystem) error {
	if f.sealed.Load() {
		return errors.New("fsm: Register after the FSM started")
	}
	name := s.Name()
	if !validName(name) {
		return fmt.Errorf("fsm: invalid subsystem name %q: want 1..%d bytes of [a-z0-9_] starting with a letter", name, MaxSubsystemNameLen)
	}
	if _, dup := f.byName[name]; dup {
		return fmt.Errorf("fsm: subsystem %q registered twice", name)
	}
	f.subs = append(f.subs, s)
	f.byName[name] = s
	f.names[name] = name
	if fc, ok := s.(Fencer); ok && f.fencer == nil {
		f.fencer = fc
	}
	return nil
}

func validName(name string) bool {
	if len(name) == 0 || len(name) > MaxSubsystemNameLen || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// TickCommand is the command the leader proposes to expire whatever is due
// as of atMs in every subsystem.
func TickCommand(atMs int64) Command {
	return Command{Subsystem: tickSubsystem, Op: opTick, AtMs: atMs}
}

// NextDeadline is the earliest non-zero NextDeadline of all subsystems, or 0
// when none has anything pending. Safe to call from any goroutine.
func (f *FSM) NextDeadline() int64 {
	var next int64
	for _, s := range f.subs {
		if d := s.NextDeadline(); d != 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return next
}

// Apply implements raft.FSM. Garbage bytes yield an error value, never a
// panic: a corrupt entry must not take the server down on every replay.
//
// A batch entry (batch.go) answers BatchResults, one answer per command.
func (f *FSM) Apply(l *raft.Log) any {
	if IsBatch(l.Data) {
		f.sealed.Store(true)
		res := f.applyBatch(l)
		f.applied.Store(l.Index)
		return res
	}
	cmd, err := unmarshal(l.Data, f.intern)
	if err != nil {
		f.log.Error("undecodable raft log entry", zap.Uint64("index", l.Index), zap.Error(err))
		f.applied.Store(l.Index)
		return err
	}
	res := f.ApplyCommand(cmd)
	f.applied.Store(l.Index)
	return res
}

// intern is the registered name spelled by b, or a new string when none
// is (the command is refused as naming no subsystem).
func (f *FSM) intern(b []byte) string {
	if s, ok := f.names[string(b)]; ok {
		return s
	}
	return string(b)
}

// ConfigurationApplied records that the raft entry at index, a change of
// the cluster's members, has been applied. Raft hands such entries to its
// ConfigurationStore, not to Apply, and they carry nothing for the
// subsystems; but a read index can name one, and a read waiting for it
// must not wait for the next command. Called on the FSM goroutine.
func (f *FSM) ConfigurationApplied(index uint64) { f.applied.Store(index) }

// ApplyCommand applies a decoded command, as Apply does for a log entry. It
// is exported so that subsystem tests can drive an FSM without raft.
func (f *FSM) ApplyCommand(cmd Command) (result any) {
	f.sealed.Store(true)
	if cmd.AtMs < f.clock {
		cmd.AtMs = f.clock
	}
	f.clock = cmd.AtMs

	if cmd.Subsystem == tickSubsystem {
		if cmd.Op == opRearm || cmd.Op == opRearmLeader {
			return f.rearm(cmd)
		}
		if cmd.Op != opTick {
			return fmt.Errorf("%w: unknown fsm op %d", ErrBadCommand, cmd.Op)
		}
		for _, s := range f.subs {
			f.guard(s.Name(), "Tick", func() { s.Tick(cmd.AtMs) }, &result)
		}
		f.dedup.expire(cmd.AtMs)
		return result
	}
	s, ok := f.byName[cmd.Subsystem]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownSubsystem, cmd.Subsystem)
	}
	if cmd.RequestID == "" {
		if cmd.Fence.Key != "" {
			if refused := f.checkFence(cmd); refused != nil {
				return refused
			}
		}
		f.guard(s.Name(), "Apply", func() { result = s.Apply(cmd) }, &result)
		if r, ok := result.(Retry); ok {
			return r.Response
		}
		return result
	}
	// The id check comes before the fence check: a retry of a command
	// that was applied gets its first answer even after the lock moved on.
	if r, ok := f.dedup.check(cmd); ok {
		return r
	}
	if cmd.Fence.Key != "" {
		if refused := f.checkFence(cmd); refused != nil {
			return f.dedup.remember(cmd, refused)
		}
	}
	f.guard(s.Name(), "Apply", func() { result = s.Apply(cmd) }, &result)
	return f.dedup.remember(cmd, result)
}

// guard runs fn and turns a panic into an error result. A panic in a
// subsystem is a bug, but it is deterministic (every replica panics on the
// same entry), so answering an error keeps replicas in agreement while
// keeping the server, and the replay after a restart, alive.
func (f *FSM) guard(name, what string, fn func(), result *any) {
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("fsm: subsystem %q %s panicked: %v", name, what, p)
			f.log.Error("subsystem panic", zap.Error(err), zap.Stack("stack"))
			*result = err
		}
	}()
	fn()
}

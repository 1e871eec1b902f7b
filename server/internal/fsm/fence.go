package fsm

import (
	"crypto/sha256"
	"encoding/binary"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Fenced writes.
//
// A command with a Fence is applied only if its lock is held, at that
// command's place in the log, exclusively by a live lease with exactly the
// fence's token. The FSM checks it itself, before dispatching, so every
// subsystem gets it the same way and every replica (and every replay)
// decides the same: the check reads only replicated lock state and the
// command's own AtMs. A refused command changes nothing.
//
// The answer to a refused command is a *commonpb.Result with code
// "fenced"; the API layer puts it in the operation's response. With a
// request id it is remembered like any answer, so a retry gets the same
// answer; a retry of a command that was applied gets its first answer
// even once the lock has moved on, since the id check comes first.

// Fencer is implemented by the subsystem that owns the locks fences name
// (the quorum lock table). The FSM uses the first registered one.
type Fencer interface {
	// CheckFence reports whether key is held exclusively, at atMs, by a
	// live lease whose fence token for key is token. When it is not,
	// refusal says why, in words naming key and token; current is the
	// token that would pass now (0: none). It must not change any state.
	CheckFence(key string, token uint64, atMs int64) (current uint64, refusal string)
}

// FenceExpirer is a Fencer whose leases the leader expires by command
// (LeaderExpirer). FenceExpiry returns, on the leader, the expiry of the
// holders of key whose lease has passed by the leader's memory at nowMs,
// so a fenced write proposed after that moment is proposed after the
// expiry and refused, as the lease's end requires; ok is false when no
// holder of key is due.
type FenceExpirer interface {
	FenceExpiry(key string, nowMs int64) (cmd Command, ok bool)
}

// FenceExpiry is the expiry command the leader proposes before a command
// fenced on key at nowMs (FenceExpirer), if one is due.
func (f *FSM) FenceExpiry(key string, nowMs int64) (Command, bool) {
	if fe, ok := f.fencer.(FenceExpirer); ok {
		return fe.FenceExpiry(key, nowMs)
	}
	return Command{}, false
}

// checkFence answers a command whose fence is refused, or nil.
func (f *FSM) checkFence(cmd Command) any {
	if f.fencer == nil {
		return result.Failf(result.CodeFenced, "fence: this server has no lock table to check lock %q against; current token 0", cmd.Fence.Key)
	}
	current, refusal := f.fencer.CheckFence(cmd.Fence.Key, cmd.Fence.Token, cmd.AtMs)
	if refusal == "" {
		return nil
	}
	return result.Failf(result.CodeFenced, "fence: %s; current token %d", refusal, current)
}

// digest is what the memory of request ids compares a retry by: the
// payload, and the fence when there is one (a version-3 command), so a
// retry with the same id under another fence is another request.
func digest(cmd Command) [32]byte {
	if cmd.Fence.Key == "" {
		return sha256.Sum256(cmd.Payload)
	}
	h := sha256.New()
	h.Write(cmd.Payload)
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(cmd.Fence.Key)))
	b = append(b, cmd.Fence.Key...)
	b = binary.AppendUvarint(b, cmd.Fence.Token)
	h.Write(b)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

package fsm

import (
	"encoding/binary"
	"fmt"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// Group commit.
//
// Concurrent proposals travel in one raft log entry: a batch, whose
// commands the FSM applies one after the other, in order, exactly as if
// each had been its own entry: each its own request-id check, fence check,
// clamped time (its own AtMs) and answer. One entry costs one trip through
// raft (one append, one fsync on a data dir, one AppendEntries slot, one
// future) whatever the number of commands in it.
//
// Layout (commandVersionBatch):
//
//	4 | uvarint count (2..) | count × (uvarint len | a version 1, 2 or 3 command)
//
// A batch never holds a batch. A single command is never wrapped: it
// stays a version 1–3 entry, so a log written by a server without
// batches replays unchanged, and one with batches differs only where
// commands were concurrent. A server older than batches cannot apply a
// batch entry: upgrade every node of a cluster before clients load it.
const commandVersionBatch = 4

// BatchResults is what Apply answers for a batch entry: the answer of each
// command, in the order of the batch (an error value for a command that
// failed to decode or apply, as Apply answers for a single entry).
type BatchResults []any

// AppendBatch appends to dst the batch entry holding cmds, each an encoded
// command (Command.Marshal). Give it two or more: a single command is
// proposed as it is.
func AppendBatch(dst []byte, cmds [][]byte) []byte {
	dst = append(dst, commandVersionBatch)
	dst = binary.AppendUvarint(dst, uint64(len(cmds)))
	for _, c := range cmds {
		dst = binary.AppendUvarint(dst, uint64(len(c)))
		dst = append(dst, c...)
	}
	return dst
}

// BatchSize is the size of the batch entry AppendBatch makes of cmds.
func BatchSize(cmds [][]byte) int {
	n := 1 + binary.MaxVarintLen64
	for _, c := range cmds {
		n += binary.MaxVarintLen64 + len(c)
	}
	return n
}

// IsBatch reports whether data is a batch entry.
func IsBatch(data []byte) bool { return len(data) > 0 && data[0] == commandVersionBatch }

// batchCount decodes a batch's header: the number of commands and what
// follows it. Every command takes at least two bytes (a length and a
// version), which bounds count before anything is allocated for it.
func batchCount(data []byte) (int, []byte, error) {
	rest := data[1:]
	n, k := binary.Uvarint(rest)
	if k <= 0 {
		return 0, nil, fmt.Errorf("%w: bad batch count", ErrBadCommand)
	}
	rest = rest[k:]
	if n < 2 || n > uint64(len(rest)/2) {
		return 0, nil, fmt.Errorf("%w: batch count %d out of range", ErrBadCommand, n)
	}
	return int(n), rest, nil
}

// nextInBatch splits the next command off a batch's body.
func nextInBatch(rest []byte) (cmd, after []byte, err error) {
	n, k := binary.Uvarint(rest)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad batch item length", ErrBadCommand)
	}
	rest = rest[k:]
	if n == 0 || n > uint64(len(rest)) {
		return nil, nil, fmt.Errorf("%w: batch item length %d out of range", ErrBadCommand, n)
	}
	return rest[:n], rest[n:], nil
}

// SplitBatch decodes a batch entry into its encoded commands (aliasing
// data). It never panics; a malformed batch yields an error wrapping
// ErrBadCommand.
func SplitBatch(data []byte) ([][]byte, error) {
	if !IsBatch(data) {
		return nil, fmt.Errorf("%w: not a batch", ErrBadCommand)
	}
	count, rest, err := batchCount(data)
	if err != nil {
		return nil, err
	}
	cmds := make([][]byte, 0, count)
	for range count {
		var c []byte
		if c, rest, err = nextInBatch(rest); err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the batch's last command", ErrBadCommand, len(rest))
	}
	return cmds, nil
}

// applyBatch applies every command of a batch entry in order. A framing
// error (the batch itself is garbage) answers that one error for the whole
// entry and applies nothing: every replica decides the same, and no
// command is applied from a batch whose extent cannot be trusted.
func (f *FSM) applyBatch(l *raft.Log) any {
	cmds, err := SplitBatch(l.Data)
	if err != nil {
		f.log.Error("undecodable raft log batch", zap.Uint64("index", l.Index), zap.Error(err))
		return err
	}
	results := make(BatchResults, len(cmds))
	for i, b := range cmds {
		cmd, err := unmarshal(b, f.intern)
		if err != nil {
			f.log.Error("undecodable command in a raft log batch", zap.Uint64("index", l.Index), zap.Int("item", i), zap.Error(err))
			results[i] = err
			continue
		}
		results[i] = f.ApplyCommand(cmd)
	}
	return results
}

package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Command is the envelope of every entry in the raft log. The FSM routes it
// to the subsystem it names; Op and Payload mean whatever that subsystem says.
type Command struct {
	// Subsystem is the registered name of the state machine that applies
	// the command.
	Subsystem string
	// Op selects the operation within the subsystem; values are
	// subsystem-defined and are part of the log format, so never renumber one.
	Op uint16
	// AtMs is the proposing leader's wall clock (Unix ms). It is the only
	// notion of time a state machine may use, which keeps apply deterministic
	// across replicas and replays. The FSM never lets it go backwards: see
	// FSM.Apply.
	AtMs int64
	// RequestID is the client-made id of a mutation that a client may send
	// more than once; empty for none. The FSM answers a command whose id it
	// remembers with the remembered response instead of applying it again
	// (see dedup.go). At most MaxRequestIDLen bytes.
	RequestID string
	// Fence, when its Key is set, makes the command conditional on a held
	// lock: the FSM applies it only if, at this command's place in the log
	// and time AtMs, Fence.Key is held exclusively by a live lease with
	// exactly Fence.Token (see Fencer). Otherwise nothing is applied and the
	// answer is a Result with code "fenced".
	Fence Fence
	// Payload is the subsystem-defined body, usually a marshalled proto
	// message. After Unmarshal it aliases the input buffer: read it, or copy
	// it before keeping it, and never modify it.
	Payload []byte
}

// commandVersion is the first byte of every encoded command. A future change
// of layout gets a new version and Unmarshal keeps decoding the old one, so
// logs and snapshots written by older servers still replay.
const commandVersion = 1

// commandVersionID is the layout of a command with a RequestID: version 1's
// with the id, length-prefixed, between AtMs and Payload.
const commandVersionID = 2

// commandVersionFence is the layout of a command with a Fence: version
// 1's, then uvarint len(RequestID) | RequestID (possibly empty) | uvarint
// len(Fence.Key) | Fence.Key | uvarint Fence.Token, then Payload.
const commandVersionFence = 3

// Fence names a lock grant a command is conditional on. The zero Fence
// (empty Key) is none.
type Fence struct {
	Key   string
	Token uint64
}

// MaxFenceKeyLen bounds Command.Fence.Key in the log format. The API
// layer's own limit (Limits.MaxKeyLen) is normally much lower; this one
// only lets Unmarshal reject garbage before allocating.
const MaxFenceKeyLen = 64 << 10

// MaxSubsystemNameLen bounds Command.Subsystem. Names are short identifiers;
// the bound lets Unmarshal reject garbage before allocating.
const MaxSubsystemNameLen = 64

// ErrBadCommand wraps every decoding failure, so callers can tell a corrupt
// or foreign log entry from a subsystem's own error.
var ErrBadCommand = errors.New("fsm: malformed command")

// Marshal encodes c as:
//
//	version:1 | uvarint len(Subsystem) | Subsystem | Op:2 big-endian | zigzag varint AtMs | Payload (rest)
//
// or, with a RequestID, version 2 with uvarint len(RequestID) | RequestID
// before Payload, or, with a Fence, version 3 (see commandVersionFence). The payload runs to the end, so it costs no length prefix.
func (c Command) Marshal() ([]byte, error) {
	if len(c.Subsystem) > MaxSubsystemNameLen {
		return nil, fmt.Errorf("%w: subsystem name is %d bytes, max %d", ErrBadCommand, len(c.Subsystem), MaxSubsystemNameLen)
	}
	if len(c.RequestID) > MaxRequestIDLen {
		return nil, fmt.Errorf("%w: request id is %d bytes, max %d", ErrBadCommand, len(c.RequestID), MaxRequestIDLen)
	}
	fenced := c.Fence.Key != ""
	if fenced && (len(c.Fence.Key) > MaxFenceKeyLen || c.Fence.Token == 0) {
		return nil, fmt.Errorf("%w: fence key of %d bytes (1..%d) with token %d (must be positive)", ErrBadCommand, len(c.Fence.Key), MaxFenceKeyLen, c.Fence.Token)
	}
	b := make([]byte, 0, 1+binary.MaxVarintLen16+len(c.Subsystem)+2+binary.MaxVarintLen64+2+len(c.RequestID)+3+len(c.Fence.Key)+binary.MaxVarintLen64+len(c.Payload))
	version := byte(commandVersion)
	switch {
	case fenced:
		version = commandVersionFence
	case c.RequestID != "":
		version = commandVersionID
	}
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(len(c.Subsystem)))
	b = append(b, c.Subsystem...)
	b = binary.BigEndian.AppendUint16(b, c.Op)
	b = binary.AppendVarint(b, c.AtMs)
	if version != commandVersion {
		b = binary.AppendUvarint(b, uint64(len(c.RequestID)))
		b = append(b, c.RequestID...)
	}
	if fenced {
		b = binary.AppendUvarint(b, uint64(len(c.Fence.Key)))
		b = append(b, c.Fence.Key...)
		b = binary.AppendUvarint(b, c.Fence.Token)
	}
	b = append(b, c.Payload...)
	return b, nil
}

// Unmarshal decodes data produced by Marshal. It never panics: any input
// that is not a well-formed command yields an error wrapping ErrBadCommand.
// The returned Payload aliases data.
func Unmarshal(data []byte) (Command, error) { return unmarshal(data, nil) }

// unmarshal is Unmarshal with intern, when set, making the Subsystem
// string: the FSM hands its registered names back, so applying a command
// does not allocate its subsystem's name.
func unmarshal(data []byte, intern func([]byte) string) (Command, error) {
	var c Command
	if len(data) == 0 {
		return c, fmt.Errorf("%w: empty", ErrBadCommand)
	}
	if data[0] != commandVersion && data[0] != commandVersionID && data[0] != commandVersionFence {
		return c, fmt.Errorf("%w: unknown version %d", ErrBadCommand, data[0])
	}
	rest := data[1:]
	n, k := binary.Uvarint(rest)
	if k <= 0 {
		return c, fmt.Errorf("%w: bad subsystem length", ErrBadCommand)
	}
	rest = rest[k:]
	if n > MaxSubsystemNameLen || n > uint64(len(rest)) {
		return c, fmt.Errorf("%w: subsystem length %d out of range", ErrBadCommand, n)
	}
	if intern != nil {
		c.Subsystem = intern(rest[:n])
	} else {
		c.Subsystem = string(rest[:n])
	}
	rest = rest[n:]
	if len(rest) < 2 {
		return c, fmt.Errorf("%w: truncated op", ErrBadCommand)
	}
	c.Op = binary.BigEndian.Uint16(rest)
	rest = rest[2:]
	at, k := binary.Varint(rest)
	if k <= 0 {
		return c, fmt.Errorf("%w: bad timestamp", ErrBadCommand)
	}
	c.AtMs = at
	rest = rest[k:]
	if data[0] != commandVersion {
		n, k := binary.Uvarint(rest)
		if k <= 0 {
			return c, fmt.Errorf("%w: bad request id length", ErrBadCommand)
		}
		rest = rest[k:]
		// Version 2 exists for the id, so its id is never empty; version
		// 3's may be.
		if (n == 0 && data[0] == commandVersionID) || n > MaxRequestIDLen || n > uint64(len(rest)) {
			return c, fmt.Errorf("%w: request id length %d out of range", ErrBadCommand, n)
		}
		c.RequestID = string(rest[:n])
		rest = rest[n:]
	}
	if data[0] == commandVersionFence {
		n, k := binary.Uvarint(rest)
		if k <= 0 {
			return c, fmt.Errorf("%w: bad fence key length", ErrBadCommand)
		}
		rest = rest[k:]
		if n == 0 || n > MaxFenceKeyLen || n > uint64(len(rest)) {
			return c, fmt.Errorf("%w: fence key length %d out of range", ErrBadCommand, n)
		}
		c.Fence.Key = string(rest[:n])
		rest = rest[n:]
		tok, k := binary.Uvarint(rest)
		if k <= 0 || tok == 0 {
			return c, fmt.Errorf("%w: bad fence token", ErrBadCommand)
		}
		c.Fence.Token = tok
		rest = rest[k:]
	}
	if len(rest) > 0 {
		c.Payload = rest
	}
	return c, nil
}

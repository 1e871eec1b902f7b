package fsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Exactly once under retries.
//
// A client that loses the reply of a mutation cannot tell whether it was
// applied. So every mutation the SDK may send more than once carries a
// client-made request id (Command.RequestID), and the FSM remembers, per
// subsystem and id, a digest of the command and the response it answered.
// A command whose id is remembered is not applied again: it answers the
// remembered response (same revision, same "added" count, same
// not-duplicate), or, when its op or payload differ from the remembered
// one, ErrRequestIDReused.
//
// The memory is replicated state: it is filled on apply, expired by the
// commands' own AtMs, trimmed in apply order, and part of every snapshot,
// so every replica and every replay answers a retry the same way. It keeps
// an answer for Window after it was given, and at most MaxEntries answers
// of at most MaxBytes in all; the oldest go first when either bound is hit.
// Every replica must run with the same bounds.

// ErrRequestIDReused is the apply result of a command whose request id was
// used before, within the window, for a different op or payload.
var ErrRequestIDReused = errors.New("request_id: already used for a different request")

// MaxRequestIDLen bounds Command.RequestID.
const MaxRequestIDLen = 128

// DedupConfig bounds what the FSM remembers of request ids.
type DedupConfig struct {
	// WindowMs is how long an answer is remembered. Default 120000 (2 min).
	WindowMs int64
	// MaxEntries bounds the number of remembered answers. Default 250,000.
	MaxEntries int
	// MaxBytes bounds the encoded size of the remembered answers.
	// Default 64 MiB.
	MaxBytes int
}

// Defaults of DedupConfig.
const (
	DefaultDedupWindowMs   = 120_000
	DefaultDedupMaxEntries = 250_000
	DefaultDedupMaxBytes   = 64 << 20
)

func (c DedupConfig) withDefaults() DedupConfig {
	if c.WindowMs <= 0 {
		c.WindowMs = DefaultDedupWindowMs
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = DefaultDedupMaxEntries
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultDedupMaxBytes
	}
	return c
}

// Retry marks an apply result that a retry of the same request id must not
// be answered with, because the command changed nothing and trying again
// may find something (a pop of an empty queue). The FSM hands the proposer
// Response and remembers nothing.
type Retry struct{ Response any }

// entrySize is what one remembered answer costs beside its response bytes:
// the map entry, the ring slot and the key.
const entrySize = 96

type dedupEntry struct {
	key    dedupKey
	op     uint16
	digest [32]byte // SHA-256 of the payload
	atMs   int64
	typ    protoreflect.MessageType
	resp   []byte // the response, marshalled
}

func (e *dedupEntry) size() int {
	return entrySize + len(e.key.subsystem) + len(e.key.requestID) + len(e.resp)
}

// dedupKey names a request id within its subsystem.
type dedupKey struct{ subsystem, requestID string }

// dedup is the FSM's memory of request ids. Apply, Snapshot and Restore
// run on the FSM goroutine; Lookup runs on API goroutines, so the state is
// guarded.
type dedup struct {
	cfg DedupConfig

	mu    sync.RWMutex
	byKey map[dedupKey]*dedupEntry
	fifo  []*dedupEntry // apply order; fifo[head:] are live
	head  int
	bytes int
}

func newDedup(cfg DedupConfig) *dedup {
	return &dedup{cfg: cfg.withDefaults(), byKey: map[dedupKey]*dedupEntry{}}
}

// check answers a command with a request id from memory: the remembered
// response (a fresh copy), ErrRequestIDReused, or ok=false to apply it.
func (d *dedup) check(cmd Command) (any, bool) {
	d.expire(cmd.AtMs)
	d.mu.RLock()
	e := d.byKey[dedupKey{cmd.Subsystem, cmd.RequestID}]
	d.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	if e.op != cmd.Op || e.digest != digest(cmd) {
		return ErrRequestIDReused, true
	}
	return e.decode(), true
}

func (e *dedupEntry) decode() any {
	m := e.typ.New().Interface()
	if err := proto.Unmarshal(e.resp, m); err != nil {
		return fmt.Errorf("fsm: remembered response of a request id: %w", err)
	}
	return m
}

// remember stores the answer to cmd when it is a proto message.
func (d *dedup) remember(cmd Command, result any) any {
	if r, ok := result.(Retry); ok {
		return r.Response
	}
	m, ok := result.(proto.Message)
	if !ok || m == nil {
		return result
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return result // not remembered: a retry applies again, as before
	}
	e := &dedupEntry{key: dedupKey{cmd.Subsystem, cmd.RequestID}, op: cmd.Op, digest: digest(cmd), atMs: cmd.AtMs, typ: m.ProtoReflect().Type(), resp: b}
	d.add(e)
	return result
}

func (d *dedup) add(e *dedupEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.byKey[e.key]; old != nil {
		// Only after a reuse refused above can this happen; keep the first.
		return
	}
	d.byKey[e.key] = e
	d.fifo = append(d.fifo, e)
	d.bytes += e.size()
	for len(d.fifo)-d.head > d.cfg.MaxEntries || d.bytes > d.cfg.MaxBytes {
		d.dropOldestLocked()
	}
}

func (d *dedup) dropOldestLocked() {
	e := d.fifo[d.head]
	d.fifo[d.head] = nil
	d.head++
	delete(d.byKey, e.key)
	d.bytes -= e.size()
	if d.head > 1024 && d.head > len(d.fifo)/2 {
		d.fifo = append([]*dedupEntry(nil), d.fifo[d.head:]...)
		d.head = 0
	}
}

// expire forgets answers older than the window as of atMs.
func (d *dedup) expire(atMs int64) {
	cut := atMs - d.cfg.WindowMs
	d.mu.RLock()
	due := d.head < len(d.fifo) && d.fifo[d.head].atMs < cut
	d.mu.RUnlock()
	if !due {
		return
	}
	d.mu.Lock()
	for d.head < len(d.fifo) && d.fifo[d.head].atMs < cut {
		d.dropOldestLocked()
	}
	d.mu.Unlock()
}

// Lookup returns the response remembered for a request id of subsystem,
// for handlers that must answer a retry before deciding to propose (a
// blocking pop). It is a read of local state.
func (d *dedup) Lookup(subsystem, requestID string) (any, bool) {
	d.mu.RLock()
	e := d.byKey[dedupKey{subsystem, requestID}]
	d.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	return e.decode(), true
}

// Len is the number of remembered answers.
func (d *dedup) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.fifo) - d.head
}

// Snapshot layout (varints): count | count × (len subsystem | subsystem |
// len request id | request id | op | digest:32 | zigzag atMs | len type |
// type | len resp | resp). Entries never change once stored, so the copy
// of the slice is a point-in-time copy.
func (d *dedup) snapshot() func(io.Writer) error {
	d.mu.RLock()
	live := append([]*dedupEntry(nil), d.fifo[d.head:]...)
	d.mu.RUnlock()
	return func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		var b []byte
		b = binary.AppendUvarint(b, uint64(len(live)))
		for _, e := range live {
			b = binary.AppendUvarint(b, uint64(len(e.key.subsystem)))
			b = append(b, e.key.subsystem...)
			b = binary.AppendUvarint(b, uint64(len(e.key.requestID)))
			b = append(b, e.key.requestID...)
			b = binary.AppendUvarint(b, uint64(e.op))
			b = append(b, e.digest[:]...)
			b = binary.AppendVarint(b, e.atMs)
			name := string(e.typ.Descriptor().FullName())
			b = binary.AppendUvarint(b, uint64(len(name)))
			b = append(b, name...)
			b = binary.AppendUvarint(b, uint64(len(e.resp)))
			b = append(b, e.resp...)
			if len(b) > 32<<10 {
				if _, err := bw.Write(b); err != nil {
					return err
				}
				b = b[:0]
			}
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
		return bw.Flush()
	}
}

// maxRememberedResponse bounds one response read back from a snapshot.
const maxRememberedResponse = 64 << 20

func (d *dedup) restore(r io.Reader) error {
	br := bufio.NewReader(r)
	fresh := newDedup(d.cfg)
	n, err := binary.ReadUvarint(br)
	if errors.Is(err, io.EOF) {
		d.replace(fresh)
		return nil // absent frame: nothing remembered
	}
	if err != nil {
		return fmt.Errorf("dedup count: %w", err)
	}
	readBytes := func(max uint64, what string) ([]byte, error) {
		l, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("dedup %s length: %w", what, unexpected(err))
		}
		if l > max {
			return nil, fmt.Errorf("dedup %s of %d bytes", what, l)
		}
		b := make([]byte, l)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("dedup %s: %w", what, unexpected(err))
		}
		return b, nil
	}
	for range n {
		sub, err := readBytes(MaxSubsystemNameLen, "subsystem")
		if err != nil {
			return err
		}
		rid, err := readBytes(MaxRequestIDLen, "request id")
		if err != nil {
			return err
		}
		op, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("dedup op: %w", unexpected(err))
		}
		if op > 0xffff {
			return fmt.Errorf("dedup op %d out of range", op)
		}
		e := &dedupEntry{key: dedupKey{string(sub), string(rid)}, op: uint16(op)}
		if _, err := io.ReadFull(br, e.digest[:]); err != nil {
			return fmt.Errorf("dedup digest: %w", unexpected(err))
		}
		if e.atMs, err = binary.ReadVarint(br); err != nil {
			return fmt.Errorf("dedup time: %w", unexpected(err))
		}
		name, err := readBytes(512, "type")
		if err != nil {
			return err
		}
		if e.typ, err = protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name)); err != nil {
			return fmt.Errorf("dedup response type %q: %w", name, err)
		}
		if e.resp, err = readBytes(maxRememberedResponse, "response"); err != nil {
			return err
		}
		fresh.add(e)
	}
	d.replace(fresh)
	return nil
}

func (d *dedup) replace(fresh *dedup) {
	d.mu.Lock()
	d.byKey, d.fifo, d.head, d.bytes = fresh.byKey, fresh.fifo, fresh.head, fresh.bytes
	d.mu.Unlock()
}

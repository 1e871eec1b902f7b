package stream

import (
	"fmt"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
)

// Name is the state machine's registered name; it is in every log entry and
// snapshot, so it never changes.
const Name = "stream"

// Ops of the stream state machine. They are part of the log format: never
// renumber one.
const (
	OpCreateStream   uint16 = 1  // StreamServiceCreateStreamRequest
	OpUpdateStream   uint16 = 2  // StreamServiceUpdateStreamRequest
	OpDeleteStream   uint16 = 3  // StreamServiceDeleteStreamRequest
	OpPublish        uint16 = 4  // StreamServicePublishRequest
	OpPublishBatch   uint16 = 5  // StreamServicePublishBatchRequest
	OpPurge          uint16 = 6  // StreamServicePurgeRequest
	OpDeleteMsg      uint16 = 7  // StreamServiceDeleteMsgRequest
	OpCreateConsumer uint16 = 8  // StreamServiceCreateConsumerRequest
	OpUpdateConsumer uint16 = 9  // StreamServiceUpdateConsumerRequest
	OpDeleteConsumer uint16 = 10 // StreamServiceDeleteConsumerRequest
	OpDeliver        uint16 = 11 // StreamServiceFetchRequest: deliver up to batch messages
	OpAck            uint16 = 12 // StreamServiceAckRequest
	OpTouch          uint16 = 13 // StreamServiceGetConsumerRequest: mark a consumer active
)

// Defaults filled into configurations.
const (
	DefaultMaxMsgSize        = 1 << 20
	DefaultDuplicateWindowMs = 120_000
	DefaultAckWaitMs         = 30_000
	DefaultMaxAckPending     = 1000
	DefaultInactiveMs        = 5_000
	DefaultFetchMaxBytes     = 1 << 20
)

// Machine is the deterministic stream state machine: streams, their stored
// messages, deduplication windows and consumers (positions, pending acks,
// redelivery). Apply and Tick read time only from their arguments.
//
// Reads (Info, GetMsg, ...) take the read lock and may run concurrently with
// each other; Apply and Tick take the write lock.
type Machine struct {
	mu      sync.RWMutex
	streams map[string]*strm
	// bySubject caches publish subject -> stream (nil: bound by none). It is
	// derived state, cleared whenever stream subjects change.
	bySubject map[string]*strm
	// subjIdx indexes every stream's subjects (owner: stream name, index
	// in its filters); derived state, rebuilt on Restore.
	subjIdx subjectIndex
	ephSeq  uint64 // numbers server-made ephemeral consumer names

	// notify is fired after a command changed what waiters look at,
	// outside the lock: a consumer's key (consumerKey) when only that
	// consumer changed (freed ack slots, due redeliveries, its config, its
	// deletion), and every consumer's key of a stream when the stream did
	// (new or removed messages, its config, its deletion). So a stream
	// with many consumers wakes one delivery loop per ack, not all.
	notify   notify.Notifier[string]
	fired    []string            // keys changed by the current command
	firedSet map[string]struct{} // fired, as a set
	gen      uint64              // bumped on every Restore; lets waiters notice
}

// New returns an empty state machine.
func New() *Machine {
	return &Machine{streams: map[string]*strm{}, bySubject: map[string]*strm{}}
}

var _ fsm.Subsystem = (*Machine)(nil)

// Name implements fsm.Subsystem.
func (m *Machine) Name() string { return Name }

// Apply implements fsm.Subsystem. The payload is decoded (copied) before
// anything keeps it, as fsm.Command requires.
func (m *Machine) Apply(cmd fsm.Command) any { return m.ApplyOp(cmd.Op, cmd.AtMs, cmd.Payload) }

// Watch subscribes to the changes of stream (see notify): the waiter wakes
// after every applied change of the stream itself, and after a restore.
func (m *Machine) Watch(stream string) *notify.Waiter[string] { return m.notify.Watch(stream) }

// WatchConsumer subscribes to what changes the work of consumer on
// stream: the stream's changes and the consumer's own.
func (m *Machine) WatchConsumer(stream, consumer string) *notify.Waiter[string] {
	return m.notify.Watch(consumerKey(stream, consumer))
}

// consumerKey is a consumer's notify key, apart from every stream's
// (stream names hold no NUL; were two keys ever to collide, a waiter would
// only wake once more than it needs to and look again).
func consumerKey(stream, consumer string) string { return stream + "\x00" + consumer }

// ApplyOp applies one committed command and returns its response (a proto
// response message) or an error for a malformed payload or unknown op.
func (m *Machine) ApplyOp(op uint16, atMs int64, payload []byte) any {
	m.mu.Lock()
	res := m.applyLocked(op, atMs, payload)
	fired := m.takeFired()
	m.mu.Unlock()
	for _, s := range fired {
		m.notify.Fire(s)
	}
	return res
}

// takeFired returns the keys to fire once the lock is released and
// starts the next command's list. m.mu is held.
func (m *Machine) takeFired() []string {
	fired := m.fired
	m.fired = m.fired[:0] // reused: the apply goroutine fires these before its next command
	clear(m.firedSet)
	return fired
}

// fire marks the stream named stream changed: its waiters and every
// consumer's. m.mu is held.
func (m *Machine) fire(stream string) {
	if s := m.streams[stream]; s != nil {
		m.fireStream(s)
		return
	}
	m.fireKey(stream)
}

// fireStream marks s changed, also when it was just deleted. m.mu is held.
func (m *Machine) fireStream(s *strm) {
	if !m.fireKey(s.name) {
		return // and every consumer with it
	}
	for _, c := range s.consumers {
		m.fireKey(c.key)
	}
}

// fireConsumer marks c's work changed. m.mu is held.
func (m *Machine) fireConsumer(c *consumer) { m.fireKey(c.key) }

func (m *Machine) fireKey(key string) bool {
	if _, ok := m.firedSet[key]; ok {
		return false
	}
	if m.firedSet == nil {
		m.firedSet = map[string]struct{}{}
	}
	m.firedSet[key] = struct{}{}
	m.fired = append(m.fired, key)
	return true
}

func decode[T any, P interface {
	*T
	proto.Message
}](payload []byte) (P, error) {
	p := P(new(T))
	if err := proto.Unmarshal(payload, p); err != nil {
		return nil, fmt.Errorf("stream: malformed %T payload: %w", p, err)
	}
	return p, nil
}

func (m *Machine) applyLocked(op uint16, at int64, payload []byte) any {
	switch op {
	case OpCreateStream:
		req, err := decode[sp.StreamServiceCreateStreamRequest](payload)
		if err != nil {
			return err
		}
		if r := streamDurations(req.GetConfig()); r != nil {
			return &sp.StreamServiceCreateStreamResponse{Result: r}
		}
		return m.createStream(req.GetConfig(), at)
	case OpUpdateStream:
		req, err := decode[sp.StreamServiceUpdateStreamRequest](payload)
		if err != nil {
			return err
		}
		if r := streamDurations(req.GetConfig()); r != nil {
			return &sp.StreamServiceUpdateStreamResponse{Result: r}
		}
		return m.updateStream(req.GetConfig(), at)
	case OpDeleteStream:
		req, err := decode[sp.StreamServiceDeleteStreamRequest](payload)
		if err != nil {
			return err
		}
		return m.deleteStream(req.GetStream())
	case OpPublish:
		req, err := decode[sp.StreamServicePublishRequest](payload)
		if err != nil {
			return err
		}
		a := &sp.StreamPubAck{}
		msg := fromProto(req.GetMessage())
		m.publish(&msg, at, a)
		if a.Result.GetSuccess() {
			m.fire(a.Stream)
		}
		return &sp.StreamServicePublishResponse{Result: a.Result, Stream: a.Stream, Seq: a.Seq, Duplicate: a.Duplicate}
	case OpPublishBatch:
		req, err := decode[sp.StreamServicePublishBatchRequest](payload)
		if err != nil {
			return err
		}
		msgs := make([]pubMsg, len(req.GetMessages()))
		for i, p := range req.GetMessages() {
			msgs[i] = fromProto(p)
		}
		return m.publishBatch(msgs, at)
	case OpPublishRaw:
		msgs, err := decodeBatch(payload)
		if err != nil {
			return err
		}
		return m.publishBatch(msgs, at)
	case OpPurge:
		req, err := decode[sp.StreamServicePurgeRequest](payload)
		if err != nil {
			return err
		}
		return m.purge(req, at)
	case OpDeleteMsg:
		req, err := decode[sp.StreamServiceDeleteMsgRequest](payload)
		if err != nil {
			return err
		}
		return m.deleteMsg(req, at)
	case OpCreateConsumer:
		req, err := decode[sp.StreamServiceCreateConsumerRequest](payload)
		if err != nil {
			return err
		}
		if r := consumerDurations(req.GetConfig()); r != nil {
			return &sp.StreamServiceCreateConsumerResponse{Result: r}
		}
		return m.createConsumer(req.GetStream(), req.GetConfig(), at)
	case OpUpdateConsumer:
		req, err := decode[sp.StreamServiceUpdateConsumerRequest](payload)
		if err != nil {
			return err
		}
		if r := consumerDurations(req.GetConfig()); r != nil {
			return &sp.StreamServiceUpdateConsumerResponse{Result: r}
		}
		return m.updateConsumer(req.GetStream(), req.GetConfig(), at)
	case OpDeleteConsumer:
		req, err := decode[sp.StreamServiceDeleteConsumerRequest](payload)
		if err != nil {
			return err
		}
		return m.deleteConsumer(req.GetStream(), req.GetConsumer())
	case OpDeliver:
		req, err := decode[sp.StreamServiceFetchRequest](payload)
		if err != nil {
			return err
		}
		return m.deliver(req, at)
	case OpAck:
		req, err := decode[sp.StreamServiceAckRequest](payload)
		if err != nil {
			return err
		}
		if r := ackDurations(req); r != nil {
			return &sp.StreamServiceAckResponse{Result: r}
		}
		return m.ack(req, at)
	case OpTouch:
		req, err := decode[sp.StreamServiceGetConsumerRequest](payload)
		if err != nil {
			return err
		}
		return m.touch(req.GetStream(), req.GetConsumer(), at)
	default:
		return fmt.Errorf("stream: unknown op %d", op)
	}
}

// Tick expires what is due at atMs: messages past MaxAge, ack waits and nak
// delays (queueing redeliveries or dropping after MaxDeliver), and idle
// ephemeral consumers.
func (m *Machine) Tick(atMs int64) {
	m.mu.Lock()
	for _, name := range m.sortedNames() {
		s := m.streams[name]
		if s.expireAge(atMs) {
			m.fire(name)
		}
		for _, cn := range s.sortedConsumers() {
			c := s.consumers[cn]
			if c.ephemeral() && msec.Add(c.lastActive, c.cfg.GetInactiveThresholdMs()) <= atMs {
				s.removeConsumer(cn)
				m.fireConsumer(c)
				continue
			}
			if c.expire(s, atMs) {
				m.fireConsumer(c)
			}
		}
	}
	fired := m.takeFired()
	m.mu.Unlock()
	for _, s := range fired {
		m.notify.Fire(s)
	}
}

// NextDeadline is the earliest time at which Tick would change something,
// or 0. It may answer early (a stale heap entry); that costs a no-op tick.
func (m *Machine) NextDeadline() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var next int64
	min := func(d int64) {
		if d != 0 && (next == 0 || d < next) {
			next = d
		}
	}
	for _, s := range m.streams {
		if age := s.cfg.GetMaxAgeMs(); age > 0 && s.count > 0 {
			min(msec.Add(s.at(s.first), age))
		}
		for _, c := range s.consumers {
			if len(c.deadlines) > 0 {
				min(c.deadlines[0].at)
			}
			if c.ephemeral() {
				min(msec.Add(c.lastActive, c.cfg.GetInactiveThresholdMs()))
			}
		}
	}
	return next
}

func (m *Machine) sortedNames() []string {
	names := make([]string, 0, len(m.streams))
	for n := range m.streams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// streamFor returns the stream binding a literal subject, or nil.
func (m *Machine) streamFor(subj []byte) *strm {
	if s, ok := m.bySubject[string(subj)]; ok {
		return s
	}
	subject := string(subj)
	var found *strm
	// Subjects never overlap, so at most one stream binds it; the least
	// name is the tie-break should a state ever hold more.
	if o, ok := m.subjIdx.first(subject); ok {
		found = m.streams[o.name]
	}
	if len(m.bySubject) >= 1<<16 {
		clear(m.bySubject)
	}
	m.bySubject[subject] = found
	return found
}

package collections

import (
	"fmt"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Name is the state machine's registered name; it is in every log entry and
// snapshot, so it never changes.
const Name = "collections"

// Ops: part of the log format, never renumber one.
const (
	OpCreateStore uint16 = 1
	OpDeleteStore uint16 = 2
	OpDeleteKeys  uint16 = 3

	OpHSet         uint16 = 10
	OpHSetNX       uint16 = 11
	OpHDel         uint16 = 12
	OpHIncrBy      uint16 = 13
	OpHIncrByFloat uint16 = 14
	OpHExpire      uint16 = 15
	OpHPersist     uint16 = 16

	OpSAdd        uint16 = 20
	OpSRem        uint16 = 21
	OpSPop        uint16 = 22
	OpSInterStore uint16 = 23
	OpSUnionStore uint16 = 24
	OpSDiffStore  uint16 = 25
	OpSMove       uint16 = 26

	OpQueuePush   uint16 = 30
	OpQueuePop    uint16 = 31
	OpQueueAck    uint16 = 32
	OpQueueNack   uint16 = 33
	OpQueueExtend uint16 = 34
	OpQueuePurge  uint16 = 35
)

// MaxResponseBytes bounds what one read answers (HGETALL, SMEMBERS, ...);
// past it the answer is limit_exceeded and the caller should scan. It stays
// under gRPC's default 4 MiB receive limit.
const MaxResponseBytes = 4<<20 - 64<<10

// Machine is the collections state: every store, by name.
//
// Apply, Tick, Snapshot and Restore run on the FSM goroutine and take the
// write lock; reads take the read lock, so a reader never sees half an apply.
type Machine struct {
	mu     sync.RWMutex
	stores map[string]*store
	// gen numbers store incarnations, so a receipt or a TTL entry from a
	// deleted store never matches a new store of the same name.
	gen uint64
	// applied counts applied commands; with AtMs it seeds SPOP's PRNG, so
	// every replica pops the same members.
	applied uint64
	// ttls holds hash field expiries, earliest first; entries are checked
	// against the field when they come due (stale ones are dropped).
	ttls ttlHeap
	// cow shares keys with snapshot writers (cow.go); kept across restores.
	cow *cow

	// notify is keyed by queue: fired (under mu, it only signals) when a
	// queue may have gained ready messages or changed under its waiters.
	notify notify.Notifier[string]
}

// New returns an empty state machine.
func New() *Machine {
	return &Machine{stores: map[string]*store{}, cow: &cow{}}
}

// Watch subscribes to queue (see notify): the waiter wakes when the queue
// may have gained ready messages or changed under its waiters (deleted,
// purged), and after a restore.
func (m *Machine) Watch(queue string) *notify.Waiter[string] { return m.notify.Watch(queue) }

// Wake wakes the waiters of queue without a change: a handler that held
// them back while its own pop was in flight lets them look again.
func (m *Machine) Wake(queue string) { m.notify.Fire(queue) }

// Name implements fsm.Subsystem.
func (m *Machine) Name() string { return Name }

// ApplyOp applies one command. It returns the operation's proto response, or
// an error for a payload that does not decode or an unknown op (state
// unchanged).
func (m *Machine) ApplyOp(op uint16, at int64, payload []byte) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied++
	dec := func(msg proto.Message) error {
		if err := proto.Unmarshal(payload, msg); err != nil {
			return fmt.Errorf("collections: op %d: undecodable payload: %w", op, err)
		}
		return nil
	}
	switch op {
	case OpCreateStore:
		req := &pb.CollectionsServiceCreateStoreRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.createStore(req, at)
	case OpDeleteStore:
		req := &pb.CollectionsServiceDeleteStoreRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.deleteStore(req)
	case OpDeleteKeys:
		req := &pb.CollectionsServiceDeleteKeysRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.deleteKeys(req, at)
	case OpHSet:
		req := &pb.CollectionsServiceHSetRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.hset(req, at)
	case OpHSetNX:
		req := &pb.CollectionsServiceHSetNXRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.hsetnx(req, at)
	case OpHDel:
		req := &pb.CollectionsServiceHDelRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.hdel(req, at)
	case OpHIncrBy:
		req := &pb.CollectionsServiceHIncrByRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.hincrby(req, at)
	case OpHIncrByFloat:
		req := &pb.CollectionsServiceHIncrByFloatRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.hincrbyfloat(req, at)
	case OpHExpire:
		req := &pb.CollectionsServiceHExpireRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.hexpire(req, at)
	case OpHPersist:
		req := &pb.CollectionsServiceHPersistRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.hpersist(req, at)
	case OpSAdd:
		req := &pb.CollectionsServiceSAddRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.sadd(req)
	case OpSRem:
		req := &pb.CollectionsServiceSRemRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.srem(req)
	case OpSPop:
		req := &pb.CollectionsServiceSPopRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.spop(req, at)
	case OpSInterStore:
		req := &pb.CollectionsServiceSInterRequest{}
		if err := dec(req); err != nil {
			return err
		}
		members, r := m.setAlgebra(req.GetStore(), req.GetKeys(), inter, req.GetDestination())
		return &pb.CollectionsServiceSInterResponse{Result: r, Cardinality: int64(len(members))}
	case OpSUnionStore:
		req := &pb.CollectionsServiceSUnionRequest{}
		if err := dec(req); err != nil {
			return err
		}
		members, r := m.setAlgebra(req.GetStore(), req.GetKeys(), union, req.GetDestination())
		return &pb.CollectionsServiceSUnionResponse{Result: r, Cardinality: int64(len(members))}
	case OpSDiffStore:
		req := &pb.CollectionsServiceSDiffRequest{}
		if err := dec(req); err != nil {
			return err
		}
		members, r := m.setAlgebra(req.GetStore(), req.GetKeys(), diff, req.GetDestination())
		return &pb.CollectionsServiceSDiffResponse{Result: r, Cardinality: int64(len(members))}
	case OpSMove:
		req := &pb.CollectionsServiceSMoveRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.smove(req)
	case OpQueuePush:
		req := &pb.CollectionsServiceQueuePushRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.qpush(req, at)
	case OpQueuePop:
		req := &pb.CollectionsServiceQueuePopRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.qpop(req, at)
	case OpQueueAck:
		req := &pb.CollectionsServiceQueueAckRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.qack(req, at)
	case OpQueueNack:
		req := &pb.CollectionsServiceQueueNackRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.qnack(req, at)
	case OpQueueExtend:
		req := &pb.CollectionsServiceQueueExtendVisibilityRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.qextend(req, at)
	case OpQueuePurge:
		req := &pb.CollectionsServiceQueuePurgeRequest{}
		if err := dec(req); err != nil {
			return err
		}
		return m.qpurge(req, at)
	}
	return fmt.Errorf("collections: unknown op %d", op)
}

// Tick removes hash fields whose TTL has passed and moves queue messages
// whose delay, visibility timeout or retention is due.
func (m *Machine) Tick(at int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireFields(at)
	// Sorted: dead letters moved by one queue's advance land in another
	// queue, so the order of queues reaches the state.
	names := make([]string, 0, len(m.stores))
	for name, s := range m.stores {
		if s.q != nil && s.q.due(at) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		m.advance(m.stores[name], at)
	}
}

// NextDeadline is the earliest time at which Tick would change something, or
// 0. It may answer early (a stale TTL entry, an acked message at the front of
// the retention order); the tick then drops the stale entry.
func (m *Machine) NextDeadline() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var next int64
	if len(m.ttls) > 0 {
		next = m.ttls[0].at
	}
	for _, s := range m.stores {
		if s.q == nil {
			continue
		}
		if d := s.q.nextDeadline(); d != 0 && (next == 0 || d < next) {
			next = d
		}
	}
	return next
}

func notFoundStore(name string) *commonpb.Result {
	return result.Failf(result.CodeNotFound, "store %q does not exist", name)
}

// Apply implements fsm.Subsystem.
//
// A pop that found nothing is answered as an fsm.Retry: it changed
// nothing, so the FSM does not remember it under the pop's request id,
// and the waiting handler's next pop with that id applies.
func (m *Machine) Apply(cmd fsm.Command) any {
	r := m.ApplyOp(cmd.Op, cmd.AtMs, cmd.Payload)
	if p, ok := r.(*pb.CollectionsServiceQueuePopResponse); ok && cmd.Op == OpQueuePop && p.GetResult().GetSuccess() && len(p.GetMessages()) == 0 {
		return fsm.Retry{Response: r}
	}
	return r
}

var _ fsm.Subsystem = (*Machine)(nil)

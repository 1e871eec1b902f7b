package collections

import (
	"container/heap"
	"strconv"
	"strings"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// MaxPopMessages bounds QueuePop's max_messages and QueuePeek's count.
const MaxPopMessages = 1000

type qstate uint8

const (
	stReady qstate = iota
	stDelayed
	stInflight
)

// qmsg is one message. It is in exactly one of its queue's three heaps,
// according to state; hidx is its index there.
type qmsg struct {
	seq      uint64 // push order: the FIFO order of ready messages
	id       string
	payload  []byte
	attrs    map[string]string
	pushedAt int64
	at       int64 // delayed: when it becomes ready; in flight: when it becomes visible
	receives int32
	state    qstate
	hidx     int
}

// msgHeap orders ready messages by seq, delayed and in-flight ones by (at, seq).
type msgHeap struct {
	items []*qmsg
	byAt  bool
}

func (h *msgHeap) Len() int { return len(h.items) }
func (h *msgHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if h.byAt && a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}
func (h *msgHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].hidx, h.items[j].hidx = i, j
}
func (h *msgHeap) Push(x any) {
	m := x.(*qmsg)
	m.hidx = len(h.items)
	h.items = append(h.items, m)
}
func (h *msgHeap) Pop() any {
	n := len(h.items) - 1
	m := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	m.hidx = -1
	return m
}
func (h *msgHeap) top() *qmsg {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

type dedupeEntry struct {
	id  string
	exp int64
}

// queue is a reliable queue's state.
type queue struct {
	seq      uint64
	msgs     map[uint64]*qmsg
	ready    msgHeap
	delayed  msgHeap
	inflight msgHeap

	// dedupe maps a client-made id to when it is forgotten; dfifo holds the
	// same entries in push order (expiries are monotonic) for trimming.
	dedupe map[string]int64
	dfifo  []dedupeEntry
	dhead  int
	// rfifo holds seqs in push order, for retention; acked ones are skipped.
	rfifo []uint64
	rhead int

	retention int64   // config's retention_ms, copied for the hot path
	dlqRefs   int     // queues naming this one as their dead-letter queue; derived
	cuts      []*qcut // snapshots whose writers may still read the messages (cow.go)
}

func newQueue(retention int64) *queue {
	return &queue{msgs: map[uint64]*qmsg{}, delayed: msgHeap{byAt: true}, inflight: msgHeap{byAt: true}, dedupe: map[string]int64{}, retention: retention}
}

func (q *queue) heapOf(st qstate) *msgHeap {
	switch st {
	case stDelayed:
		return &q.delayed
	case stInflight:
		return &q.inflight
	}
	return &q.ready
}

func (q *queue) put(m *qmsg, st qstate) {
	q.touch(m)
	m.state = st
	heap.Push(q.heapOf(st), m)
}

// remove takes m out of the queue entirely.
func (s *store) removeMsg(m *qmsg) {
	q := s.q
	heap.Remove(q.heapOf(m.state), m.hidx)
	delete(q.msgs, m.seq)
	s.bytes -= int64(len(m.payload))
}

// due reports whether advance would change anything at at.
func (q *queue) due(at int64) bool {
	d := q.nextDeadline()
	return d != 0 && d <= at
}

func (q *queue) nextDeadline() int64 {
	var next int64
	for _, m := range []*qmsg{q.delayed.top(), q.inflight.top()} {
		if m != nil && (next == 0 || m.at < next) {
			next = m.at
		}
	}
	if q.rhead < len(q.rfifo) {
		// The front may already be acked: too early only costs a no-op tick,
		// which trims it.
		if m := q.msgs[q.rfifo[q.rhead]]; m == nil {
			return 1
		} else if d := msec.Add(m.pushedAt, q.retention); next == 0 || d < next {
			next = d
		}
	}
	return next
}

// advance applies everything due at at: dropping messages past retention,
// readying delayed ones, and returning in-flight ones whose visibility
// timeout passed (or dead-lettering them). Called by Tick and before every
// queue command, so the outcome never depends on when ticks happen.
func (m *Machine) advance(s *store, at int64) {
	q := s.q
	woke := false
	for t := q.delayed.top(); t != nil && t.at <= at; t = q.delayed.top() {
		heap.Pop(&q.delayed)
		q.put(t, stReady)
		woke = true
	}
	for t := q.inflight.top(); t != nil && t.at <= at; t = q.inflight.top() {
		heap.Pop(&q.inflight)
		if m.returnMsg(s, t, at) {
			woke = true
		}
	}
	// Retention last, so that messages dead-lettered or acked above are
	// trimmed from the front now rather than at a later tick.
	if q.retention > 0 {
		for q.rhead < len(q.rfifo) {
			msg := q.msgs[q.rfifo[q.rhead]]
			if msg != nil {
				if msec.Add(msg.pushedAt, q.retention) > at {
					break
				}
				s.removeMsg(msg)
			}
			q.rhead++
		}
		if q.rhead > 1024 && q.rhead*2 > len(q.rfifo) {
			q.rfifo = append(q.rfifo[:0], q.rfifo[q.rhead:]...)
			q.rhead = 0
		}
	}
	if woke {
		m.notify.Fire(s.name)
	}
}

// returnMsg makes a message that left flight visible again, or dead-letters
// it when it has been received max_receive_count times. m is out of every
// heap. It reports whether the message became ready here.
func (m *Machine) returnMsg(s *store, msg *qmsg, at int64) bool {
	if max := s.cfg.GetQueue().GetMaxReceiveCount(); max > 0 && msg.receives >= max {
		m.deadLetter(s, msg, at)
		return false
	}
	s.q.put(msg, stReady)
	return true
}

// deadLetter moves msg (out of every heap) to the dead-letter queue, or drops
// it when none is configured. In the dead-letter queue it is a new message
// (receive count 0, retention counted from now) with the same id, payload and
// attributes; it is accepted even past that queue's max_messages, so nothing
// is lost.
func (m *Machine) deadLetter(s *store, msg *qmsg, at int64) {
	delete(s.q.msgs, msg.seq)
	s.bytes -= int64(len(msg.payload))
	dlq := s.cfg.GetQueue().GetDeadLetterQueue()
	d := m.stores[dlq]
	if dlq == "" || d == nil || d.q == nil {
		return
	}
	d.q.seq++
	nm := &qmsg{seq: d.q.seq, id: msg.id, payload: msg.payload, attrs: msg.attrs, pushedAt: at}
	d.q.msgs[nm.seq] = nm
	d.bytes += int64(len(nm.payload))
	d.q.put(nm, stReady)
	if d.q.retention > 0 {
		d.q.rfifo = append(d.q.rfifo, nm.seq)
	}
	m.notify.Fire(dlq)
}

// Receipt names one pop of one message: the store incarnation, the message
// and its receive count. A later pop, a return to the queue, an ack or the
// store's deletion make it stale.
func Receipt(gen, seq uint64, receives int32) string {
	return strconv.FormatUint(gen, 36) + "." + strconv.FormatUint(seq, 36) + "." + strconv.FormatUint(uint64(receives), 36)
}

// ParseReceipt splits a receipt; ok is false when it is not one.
func ParseReceipt(r string) (gen, seq uint64, receives int32, ok bool) {
	parts := strings.Split(r, ".")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	var err error
	if gen, err = strconv.ParseUint(parts[0], 36, 64); err != nil {
		return 0, 0, 0, false
	}
	if seq, err = strconv.ParseUint(parts[1], 36, 64); err != nil {
		return 0, 0, 0, false
	}
	rc, err := strconv.ParseUint(parts[2], 36, 31)
	if err != nil {
		return 0, 0, 0, false
	}
	return gen, seq, int32(rc), true
}

// queueFor finds a queue and applies what is due before a command.
func (m *Machine) queueFor(name string, at int64) (*store, *commonpb.Result) {
	s, r := m.lookup(name, kindQueue)
	if r != nil {
		return nil, r
	}
	m.advance(s, at)
	return s, nil
}

// inflightFor finds the in-flight message a receipt names.
func (m *Machine) inflightFor(s *store, receipt string) (*qmsg, *commonpb.Result) {
	gen, seq, rc, okr := ParseReceipt(receipt)
	if !okr {
		return nil, result.Failf(result.CodeInvalidArgument, "receipt: not a receipt this server handed out")
	}
	msg := s.q.msgs[seq]
	if gen != s.gen || msg == nil || msg.state != stInflight || msg.receives != rc {
		return nil, result.Failf(result.CodeNotOwner, "receipt %q is no longer current: the message was acked, became visible again or was popped again", receipt)
	}
	return msg, nil
}

func (m *Machine) qpush(req *pb.CollectionsServiceQueuePushRequest, at int64) *pb.CollectionsServiceQueuePushResponse {
	s, r := m.queueFor(req.GetQueue(), at)
	if r != nil {
		return &pb.CollectionsServiceQueuePushResponse{Result: r}
	}
	q, cfg := s.q, s.cfg.GetQueue()
	if max := cfg.GetMaxMessageSize(); int64(len(req.GetPayload())) > max {
		return &pb.CollectionsServiceQueuePushResponse{Result: result.Failf(result.CodeLimitExceeded, "payload is %d bytes, the queue's max_message_size is %d", len(req.GetPayload()), max)}
	}
	delay := cfg.GetDelayMs()
	if req.DelayMs != nil {
		delay = req.GetDelayMs()
	}
	if rule := msec.Check(delay); rule != "" {
		return &pb.CollectionsServiceQueuePushResponse{Result: result.Failf(result.CodeInvalidArgument, "delay_ms: %s", rule)}
	}
	id := req.GetId()
	if id != "" {
		for q.dhead < len(q.dfifo) && q.dfifo[q.dhead].exp <= at {
			e := q.dfifo[q.dhead]
			if q.dedupe[e.id] == e.exp {
				delete(q.dedupe, e.id)
			}
			q.dfifo[q.dhead] = dedupeEntry{}
			q.dhead++
		}
		if q.dhead > 1024 && q.dhead*2 > len(q.dfifo) {
			q.dfifo = append(q.dfifo[:0], q.dfifo[q.dhead:]...)
			q.dhead = 0
		}
		if exp, dup := q.dedupe[id]; dup && exp > at {
			return &pb.CollectionsServiceQueuePushResponse{Result: result.OK(), Id: id, Duplicate: true}
		}
	}
	if max := cfg.GetMaxMessages(); max > 0 && int64(len(q.msgs)) >= max {
		return &pb.CollectionsServiceQueuePushResponse{Result: result.Failf(result.CodeLimitExceeded, "queue %q holds its max_messages (%d)", s.name, max)}
	}
	q.seq++
	if id == "" {
		id = "s" + strconv.FormatUint(s.gen, 36) + "-" + strconv.FormatUint(q.seq, 36)
	} else {
		exp := msec.Add(at, cfg.GetDedupeWindowMs())
		q.dedupe[id] = exp
		q.dfifo = append(q.dfifo, dedupeEntry{id: id, exp: exp})
	}
	msg := &qmsg{seq: q.seq, id: id, payload: req.GetPayload(), attrs: req.GetAttributes(), pushedAt: at}
	q.msgs[msg.seq] = msg
	s.bytes += int64(len(msg.payload))
	if q.retention > 0 {
		q.rfifo = append(q.rfifo, msg.seq)
	}
	if delay > 0 {
		msg.at = msec.Add(at, delay)
		q.put(msg, stDelayed)
	} else {
		q.put(msg, stReady)
		m.notify.Fire(s.name)
	}
	return &pb.CollectionsServiceQueuePushResponse{Result: result.OK(), Id: id}
}

func (m *Machine) qpop(req *pb.CollectionsServiceQueuePopRequest, at int64) *pb.CollectionsServiceQueuePopResponse {
	s, r := m.queueFor(req.GetQueue(), at)
	if r != nil {
		return &pb.CollectionsServiceQueuePopResponse{Result: r}
	}
	q := s.q
	vis := s.cfg.GetQueue().GetVisibilityTimeoutMs()
	if req.VisibilityTimeoutMs != nil {
		vis = req.GetVisibilityTimeoutMs()
	}
	if vis <= 0 {
		return &pb.CollectionsServiceQueuePopResponse{Result: result.Failf(result.CodeInvalidArgument, "visibility_timeout_ms: must be positive")}
	}
	if rule := msec.Check(vis); rule != "" {
		return &pb.CollectionsServiceQueuePopResponse{Result: result.Failf(result.CodeInvalidArgument, "visibility_timeout_ms: %s", rule)}
	}
	n := int(req.GetMaxMessages())
	if n <= 0 {
		n = 1
	}
	n = min(n, MaxPopMessages, q.ready.Len())
	resp := &pb.CollectionsServiceQueuePopResponse{Result: result.OK(), Messages: make([]*pb.QueueMessage, 0, n)}
	for range n {
		msg := heap.Pop(&q.ready).(*qmsg)
		q.touch(msg)
		msg.receives++
		msg.at = msec.Add(at, vis)
		q.put(msg, stInflight)
		resp.Messages = append(resp.Messages, &pb.QueueMessage{
			Id: msg.id, Payload: msg.payload, Receipt: Receipt(s.gen, msg.seq, msg.receives),
			ReceiveCount: msg.receives, PushedAtMs: msg.pushedAt, InvisibleUntilAtMs: msg.at, Attributes: msg.attrs,
		})
	}
	return resp
}

func (m *Machine) qack(req *pb.CollectionsServiceQueueAckRequest, at int64) *pb.CollectionsServiceQueueAckResponse {
	s, r := m.queueFor(req.GetQueue(), at)
	if r != nil {
		return &pb.CollectionsServiceQueueAckResponse{Result: r}
	}
	msg, r := m.inflightFor(s, req.GetReceipt())
	if r != nil {
		return &pb.CollectionsServiceQueueAckResponse{Result: r}
	}
	s.removeMsg(msg)
	return &pb.CollectionsServiceQueueAckResponse{Result: result.OK()}
}

func (m *Machine) qnack(req *pb.CollectionsServiceQueueNackRequest, at int64) *pb.CollectionsServiceQueueNackResponse {
	if rule := msec.Check(req.GetDelayMs()); rule != "" {
		return &pb.CollectionsServiceQueueNackResponse{Result: result.Failf(result.CodeInvalidArgument, "delay_ms: %s", rule)}
	}
	s, r := m.queueFor(req.GetQueue(), at)
	if r != nil {
		return &pb.CollectionsServiceQueueNackResponse{Result: r}
	}
	msg, r := m.inflightFor(s, req.GetReceipt())
	if r != nil {
		return &pb.CollectionsServiceQueueNackResponse{Result: r}
	}
	heap.Remove(&s.q.inflight, msg.hidx)
	if max := s.cfg.GetQueue().GetMaxReceiveCount(); max > 0 && msg.receives >= max {
		m.deadLetter(s, msg, at)
	} else if d := req.GetDelayMs(); d > 0 {
		s.q.touch(msg)
		msg.at = msec.Add(at, d)
		s.q.put(msg, stDelayed)
	} else {
		s.q.put(msg, stReady)
		m.notify.Fire(s.name)
	}
	return &pb.CollectionsServiceQueueNackResponse{Result: result.OK()}
}

func (m *Machine) qextend(req *pb.CollectionsServiceQueueExtendVisibilityRequest, at int64) *pb.CollectionsServiceQueueExtendVisibilityResponse {
	if req.GetVisibilityTimeoutMs() <= 0 {
		return &pb.CollectionsServiceQueueExtendVisibilityResponse{Result: result.Failf(result.CodeInvalidArgument, "visibility_timeout_ms: must be positive")}
	}
	if rule := msec.Check(req.GetVisibilityTimeoutMs()); rule != "" {
		return &pb.CollectionsServiceQueueExtendVisibilityResponse{Result: result.Failf(result.CodeInvalidArgument, "visibility_timeout_ms: %s", rule)}
	}
	s, r := m.queueFor(req.GetQueue(), at)
	if r != nil {
		return &pb.CollectionsServiceQueueExtendVisibilityResponse{Result: r}
	}
	msg, r := m.inflightFor(s, req.GetReceipt())
	if r != nil {
		return &pb.CollectionsServiceQueueExtendVisibilityResponse{Result: r}
	}
	s.q.touch(msg)
	msg.at = msec.Add(at, req.GetVisibilityTimeoutMs())
	heap.Fix(&s.q.inflight, msg.hidx)
	return &pb.CollectionsServiceQueueExtendVisibilityResponse{Result: result.OK(), InvisibleUntilAtMs: msg.at}
}

func (m *Machine) qpurge(req *pb.CollectionsServiceQueuePurgeRequest, at int64) *pb.CollectionsServiceQueuePurgeResponse {
	s, r := m.queueFor(req.GetQueue(), at)
	if r != nil {
		return &pb.CollectionsServiceQueuePurgeResponse{Result: r}
	}
	q := s.q
	n := int64(len(q.msgs))
	for _, msg := range q.msgs {
		s.bytes -= int64(len(msg.payload))
	}
	q.msgs = map[uint64]*qmsg{}
	q.ready.items, q.delayed.items, q.inflight.items = nil, nil, nil
	q.rfifo, q.rhead = nil, 0
	return &pb.CollectionsServiceQueuePurgeResponse{Result: result.OK(), Purged: n}
}

// Reads.

// QueueLen counts ready, in-flight and delayed messages as a command applied
// at now would see them: a message whose delay or visibility timeout has
// passed counts as ready (or, when it has used its receives, as gone to
// the dead-letter queue) even before the tick that moves it.
func (m *Machine) QueueLen(req *pb.CollectionsServiceQueueLenRequest, now int64) *pb.CollectionsServiceQueueLenResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, r := m.lookup(req.GetQueue(), kindQueue)
	if r != nil {
		return &pb.CollectionsServiceQueueLenResponse{Result: r}
	}
	q := s.q
	ready, inflight, delayed := int64(q.ready.Len()), int64(q.inflight.Len()), int64(q.delayed.Len())
	dueDelayed := q.delayed.countDue(now, func(*qmsg) bool { return true })
	max := s.cfg.GetQueue().GetMaxReceiveCount()
	dueBack := q.inflight.countDue(now, func(msg *qmsg) bool { return max == 0 || msg.receives < max })
	dueDead := q.inflight.countDue(now, func(*qmsg) bool { return true }) - dueBack
	return &pb.CollectionsServiceQueueLenResponse{Result: result.OK(),
		Ready: ready + dueDelayed + dueBack, InFlight: inflight - dueBack - dueDead, Delayed: delayed - dueDelayed}
}

// countDue counts the messages of a by-time heap due at now that keep
// holds for, visiting only due nodes (a node's children are never due
// before it).
func (h *msgHeap) countDue(now int64, keep func(*qmsg) bool) int64 {
	var n int64
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(h.items) || h.items[i].at > now {
			continue
		}
		if keep(h.items[i]) {
			n++
		}
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return n
}

// QueuePeek answers the next ready messages in FIFO order, without receipts.
func (m *Machine) QueuePeek(req *pb.CollectionsServiceQueuePeekRequest) *pb.CollectionsServiceQueuePeekResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, r := m.lookup(req.GetQueue(), kindQueue)
	if r != nil {
		return &pb.CollectionsServiceQueuePeekResponse{Result: r}
	}
	n := int(req.GetCount())
	if n <= 0 {
		n = 1
	}
	n = min(n, MaxPopMessages)
	// Best-first walk of the ready heap: the k smallest of a binary heap in
	// O(k log k), without touching it.
	items := s.q.ready.items
	resp := &pb.CollectionsServiceQueuePeekResponse{Result: result.OK()}
	frontier := &idxHeap{items: items}
	if len(items) > 0 {
		heap.Push(frontier, 0)
	}
	for len(resp.Messages) < n && frontier.Len() > 0 {
		i := heap.Pop(frontier).(int)
		msg := items[i]
		resp.Messages = append(resp.Messages, &pb.QueueMessage{Id: msg.id, Payload: msg.payload, ReceiveCount: msg.receives, PushedAtMs: msg.pushedAt, Attributes: msg.attrs})
		for _, c := range []int{2*i + 1, 2*i + 2} {
			if c < len(items) {
				heap.Push(frontier, c)
			}
		}
	}
	return resp
}

type idxHeap struct {
	items []*qmsg
	idx   []int
}

func (h *idxHeap) Len() int           { return len(h.idx) }
func (h *idxHeap) Less(i, j int) bool { return h.items[h.idx[i]].seq < h.items[h.idx[j]].seq }
func (h *idxHeap) Swap(i, j int)      { h.idx[i], h.idx[j] = h.idx[j], h.idx[i] }
func (h *idxHeap) Push(x any)         { h.idx = append(h.idx, x.(int)) }
func (h *idxHeap) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}

// Poppable tells a waiting pop how many messages a pop at now would find
// (ready ones, or 1 when only a due delayed or in-flight message is there),
// and otherwise when the next delayed or in-flight message comes due (0:
// none), so the waiter can sleep until then or until a push wakes it.
func (m *Machine) Poppable(queue string, now int64) (ready int, nextDue int64, r *commonpb.Result) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, r := m.lookup(queue, kindQueue)
	if r != nil {
		return 0, 0, r
	}
	q := s.q
	if n := q.ready.Len(); n > 0 {
		return n, 0, nil
	}
	for _, t := range []*qmsg{q.delayed.top(), q.inflight.top()} {
		if t == nil {
			continue
		}
		if t.at <= now {
			return 1, 0, nil
		}
		if nextDue == 0 || t.at < nextDue {
			nextDue = t.at
		}
	}
	return 0, nextDue, nil
}

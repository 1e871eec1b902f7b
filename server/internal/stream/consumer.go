package stream

import (
	"container/heap"
	"fmt"
	"sort"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// pend is one delivered-but-unsettled message of a consumer.
type pend struct {
	cseq     uint64 // consumer sequence of the latest delivery
	n        uint32 // deliveries so far (0: queued, never delivered)
	deadline int64  // when the ack wait (or nak delay) ends
	waiting  bool   // queued for (re)delivery
}

type deadline struct {
	at  int64
	seq uint64
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int { return len(h) }
func (h deadlineHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].seq < h[j].seq
}
func (h deadlineHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)   { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type seqHeap []uint64

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// consumer is one consumer's replicated state: its position, its pending
// deliveries and what is queued for redelivery.
type consumer struct {
	name       string
	key        string             // its notify key (consumerKey)
	cfg        *sp.ConsumerConfig // defaults filled in
	created    int64
	startSeq   uint64 // first sequence it takes interest in
	next       uint64 // next stream sequence to consider for a first delivery
	dseq       uint64 // consumer sequence of the last delivery
	lastSeq    uint64 // stream sequence of the last delivery
	lastAt     int64  // when the position last moved
	lastActive int64  // last delivery, fetch, touch: for reaping ephemerals

	pending   map[uint64]*pend
	deadlines deadlineHeap // lazy: entries whose pend moved on are skipped
	redeliver seqHeap      // lazy: seqs whose pend is waiting

	numRedelivered int64
	numDropped     int64
	durable        bool

	// scanned: no message below it matches the filter (see nextMatch).
	scanned atomic.Uint64
	// fset indexes the filters when there are more than matchScanMax, so
	// matching a message costs its tokens, not the number of filters.
	fset *filterSet
}

// matchScanMax is the most filters matched one by one.
const matchScanMax = 8

// setConfig installs cfg and its derived filter index.
func (c *consumer) setConfig(cfg *sp.ConsumerConfig) {
	c.cfg, c.fset = cfg, nil
	if fs := cfg.GetFilterSubjects(); len(fs) > matchScanMax {
		c.fset = newFilterSet(fs)
	}
}

func (c *consumer) ephemeral() bool { return !c.durable }

func (c *consumer) matches(subject string) bool {
	fs := c.cfg.GetFilterSubjects()
	if len(fs) == 0 {
		return true
	}
	if c.fset != nil {
		return c.fset.ix.any(subject)
	}
	for _, f := range fs {
		if Match(f, subject) {
			return true
		}
	}
	return false
}

func (c *consumer) ackNone() bool {
	return c.cfg.GetAckPolicy() == sp.ConsumerAckPolicy_CONSUMER_ACK_POLICY_NONE
}

// wait is how long delivery attempt n waits for an ack.
func (c *consumer) wait(n uint32) int64 {
	if b := c.cfg.GetBackoffMs(); len(b) > 0 && n > 0 {
		i := int(n - 1)
		if i >= len(b) {
			i = len(b) - 1
		}
		return b[i]
	}
	return c.cfg.GetAckWaitMs()
}

// FillConsumerDefaults returns a copy of cfg with zero values replaced by
// the server defaults.
func FillConsumerDefaults(cfg *sp.ConsumerConfig) *sp.ConsumerConfig {
	c := proto.Clone(cfg).(*sp.ConsumerConfig)
	if c.DeliverPolicy == sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_UNSPECIFIED {
		c.DeliverPolicy = sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_ALL
	}
	if c.AckPolicy == sp.ConsumerAckPolicy_CONSUMER_ACK_POLICY_UNSPECIFIED {
		c.AckPolicy = sp.ConsumerAckPolicy_CONSUMER_ACK_POLICY_EXPLICIT
	}
	if c.AckWaitMs == 0 {
		c.AckWaitMs = DefaultAckWaitMs
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.DurableName == "" && c.InactiveThresholdMs == 0 {
		c.InactiveThresholdMs = DefaultInactiveMs
	}
	return c
}

func (m *Machine) consumerOf(stream, name string) (*strm, *consumer, *commonpb.Result) {
	s, ok := m.streams[stream]
	if !ok {
		return nil, nil, result.Failf(result.CodeNotFound, "stream: %q not found", stream)
	}
	c, ok := s.consumers[name]
	if !ok {
		return s, nil, result.Failf(result.CodeNotFound, "consumer: %q not found on stream %q", name, stream)
	}
	return s, c, nil
}

func (m *Machine) createConsumer(stream string, cfg *sp.ConsumerConfig, at int64) *sp.StreamServiceCreateConsumerResponse {
	cfg = FillConsumerDefaults(cfg)
	s, ok := m.streams[stream]
	if !ok {
		return &sp.StreamServiceCreateConsumerResponse{Result: result.Failf(result.CodeNotFound, "stream: %q not found", stream)}
	}
	name := cfg.GetDurableName()
	if name != "" {
		if c, ok := s.consumers[name]; ok {
			if proto.Equal(c.cfg, cfg) {
				return &sp.StreamServiceCreateConsumerResponse{Result: result.OK(), Info: s.consumerInfo(c)}
			}
			return &sp.StreamServiceCreateConsumerResponse{Result: result.Failf(result.CodeExists, "consumer %q exists on stream %q with a different configuration", name, stream)}
		}
	}
	if mc := s.cfg.GetMaxConsumers(); mc > 0 && len(s.consumers) >= int(mc) {
		return &sp.StreamServiceCreateConsumerResponse{Result: result.Failf(result.CodeLimitExceeded, "max_consumers: stream %q has %d consumers, limit %d", stream, len(s.consumers), mc)}
	}
	if s.cfg.GetRetention() == sp.StreamRetention_STREAM_RETENTION_WORKQUEUE {
		mine := newFilterSet(cfg.GetFilterSubjects())
		for _, on := range s.sortedConsumers() {
			if x, y, ov := mine.overlap(s.consumers[on].cfg.GetFilterSubjects()); ov {
				return &sp.StreamServiceCreateConsumerResponse{Result: result.Failf(result.CodeConflict,
					"filter_subjects: %q overlaps consumer %q's filter %q; a work-queue stream delivers each message to one consumer, so consumer filters may not overlap", x, on, y)}
			}
		}
	}
	if name == "" {
		m.ephSeq++
		name = fmt.Sprintf("eph_%d", m.ephSeq)
	}
	c := &consumer{name: name, key: consumerKey(stream, name), created: at, lastAt: at, lastActive: at, durable: cfg.GetDurableName() != "", pending: map[uint64]*pend{}}
	c.setConfig(cfg)
	s.position(c)
	s.consumers[name] = c
	m.fireConsumer(c)
	return &sp.StreamServiceCreateConsumerResponse{Result: result.OK(), Info: s.consumerInfo(c)}
}

// position sets a new consumer's starting point from its deliver policy.
func (s *strm) position(c *consumer) {
	end := s.last + 1
	switch c.cfg.GetDeliverPolicy() {
	case sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_LAST:
		c.next = end
		for q := s.last; q >= s.first && q >= s.base && q > 0; q-- {
			if e := s.slot(q); e != nil && c.matches(e.subject) {
				c.next = q
				break
			}
		}
	case sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_NEW:
		c.next = end
	case sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_BY_START_SEQ:
		c.next = max(c.cfg.GetOptStartSeq(), 1)
	case sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_BY_START_TIME:
		c.next = end
		for q := s.first; q <= s.last; q++ {
			if e := s.slot(q); e != nil && e.at >= c.cfg.GetOptStartAtMs() {
				c.next = q
				break
			}
		}
	case sp.ConsumerDeliverPolicy_CONSUMER_DELIVER_POLICY_LAST_PER_SUBJECT:
		c.next = end
		for _, subj := range s.sortedSubjects() {
			if st := s.subjects[subj]; c.matches(subj) {
				c.pending[st.last] = &pend{waiting: true}
				heap.Push(&c.redeliver, st.last)
				c.startSeqMin(st.last)
			}
		}
	default: // ALL
		c.next = s.first
		if c.next == 0 {
			c.next = 1
		}
	}
	if c.startSeq == 0 || c.next < c.startSeq {
		c.startSeq = c.next
	}
}

func (c *consumer) startSeqMin(seq uint64) {
	if c.startSeq == 0 || seq < c.startSeq {
		c.startSeq = seq
	}
}

func (m *Machine) updateConsumer(stream string, cfg *sp.ConsumerConfig, at int64) *sp.StreamServiceUpdateConsumerResponse {
	cfg = FillConsumerDefaults(cfg)
	s, c, r := m.consumerOf(stream, cfg.GetDurableName())
	if r != nil {
		return &sp.StreamServiceUpdateConsumerResponse{Result: r}
	}
	old := c.cfg
	switch {
	case cfg.GetDeliverPolicy() != old.GetDeliverPolicy():
		return &sp.StreamServiceUpdateConsumerResponse{Result: result.Failf(result.CodeInvalidArgument, "deliver_policy: cannot change on an existing consumer")}
	case cfg.GetOptStartSeq() != old.GetOptStartSeq():
		return &sp.StreamServiceUpdateConsumerResponse{Result: result.Failf(result.CodeInvalidArgument, "opt_start_seq: cannot change on an existing consumer")}
	case cfg.GetOptStartAtMs() != old.GetOptStartAtMs():
		return &sp.StreamServiceUpdateConsumerResponse{Result: result.Failf(result.CodeInvalidArgument, "opt_start_at_ms: cannot change on an existing consumer")}
	case cfg.GetAckPolicy() != old.GetAckPolicy():
		return &sp.StreamServiceUpdateConsumerResponse{Result: result.Failf(result.CodeInvalidArgument, "ack_policy: cannot change on an existing consumer")}
	}
	if s.cfg.GetRetention() == sp.StreamRetention_STREAM_RETENTION_WORKQUEUE {
		mine := newFilterSet(cfg.GetFilterSubjects())
		for _, on := range s.sortedConsumers() {
			if on == c.name {
				continue
			}
			if x, y, ov := mine.overlap(s.consumers[on].cfg.GetFilterSubjects()); ov {
				return &sp.StreamServiceUpdateConsumerResponse{Result: result.Failf(result.CodeConflict, "filter_subjects: %q overlaps consumer %q's filter %q on a work-queue stream", x, on, y)}
			}
		}
	}
	c.setConfig(cfg)
	c.scanned.Store(0) // the filter may have changed
	m.fireConsumer(c)
	return &sp.StreamServiceUpdateConsumerResponse{Result: result.OK(), Info: s.consumerInfo(c)}
}

func (m *Machine) deleteConsumer(stream, name string) *sp.StreamServiceDeleteConsumerResponse {
	s, c, r := m.consumerOf(stream, name)
	if r != nil {
		return &sp.StreamServiceDeleteConsumerResponse{Result: r}
	}
	s.removeConsumer(name)
	m.fireConsumer(c)
	return &sp.StreamServiceDeleteConsumerResponse{Result: result.OK()}
}

func (s *strm) removeConsumer(name string) {
	delete(s.consumers, name)
	if s.cfg.GetRetention() == sp.StreamRetention_STREAM_RETENTION_INTEREST {
		// Interest may now be settled for messages the gone consumer held up.
		for seq := s.first; seq <= s.last; seq++ {
			if s.slot(seq) != nil && s.allAcked(seq) {
				s.remove(seq)
			}
		}
	}
}

func (m *Machine) touch(stream, name string, at int64) *sp.StreamServiceGetConsumerResponse {
	s, c, r := m.consumerOf(stream, name)
	if r != nil {
		return &sp.StreamServiceGetConsumerResponse{Result: r}
	}
	c.lastActive = at
	return &sp.StreamServiceGetConsumerResponse{Result: result.OK(), Info: s.consumerInfo(c)}
}

// ackedBy reports whether consumer c has settled seq, or never takes it.
func (s *strm) ackedBy(c *consumer, seq uint64, subject string) bool {
	if !s.interested(c, seq, subject) {
		return true
	}
	return seq < c.next && c.pending[seq] == nil
}

func (s *strm) interested(c *consumer, seq uint64, subject string) bool {
	return c.matches(subject) && seq >= c.startSeq
}

func (s *strm) anyInterest(seq uint64) bool {
	e := s.slot(seq)
	for _, c := range s.consumers {
		if s.interested(c, seq, e.subject) {
			return true
		}
	}
	return false
}

func (s *strm) allAcked(seq uint64) bool {
	e := s.slot(seq)
	for _, c := range s.consumers {
		if !s.ackedBy(c, seq, e.subject) {
			return false
		}
	}
	return true
}

// settled runs retention after consumer c settled seq (ack, term, drop).
func (s *strm) settled(c *consumer, seq uint64) {
	switch s.cfg.GetRetention() {
	case sp.StreamRetention_STREAM_RETENTION_WORKQUEUE:
		s.remove(seq)
	case sp.StreamRetention_STREAM_RETENTION_INTEREST:
		if s.slot(seq) != nil && s.allAcked(seq) {
			s.remove(seq)
		}
	}
}

// deliver hands out up to req.batch messages of one consumer: due
// redeliveries first, then new messages, within MaxAckPending and
// max_bytes. Each becomes pending with its ack deadline.
func (m *Machine) deliver(req *sp.StreamServiceFetchRequest, at int64) *sp.StreamServiceFetchResponse {
	s, c, r := m.consumerOf(req.GetStream(), req.GetConsumer())
	if r != nil {
		return &sp.StreamServiceFetchResponse{Result: r}
	}
	c.lastActive = at
	batch := int(max(req.GetBatch(), 1))
	maxBytes := req.GetMaxBytes()
	if maxBytes <= 0 {
		maxBytes = DefaultFetchMaxBytes
	}
	var out []*sp.StreamMsg
	var bytes int64
	full := func(e *entry) bool {
		return len(out) >= batch || (len(out) > 0 && bytes+int64(len(e.data)) > maxBytes)
	}
	freed := false
	for len(c.redeliver) > 0 && len(out) < batch {
		seq := c.redeliver[0]
		p := c.pending[seq]
		if p == nil || !p.waiting {
			heap.Pop(&c.redeliver)
			continue
		}
		e := s.slot(seq)
		if e == nil {
			heap.Pop(&c.redeliver)
			delete(c.pending, seq)
			freed = true
			continue
		}
		if full(e) {
			break
		}
		heap.Pop(&c.redeliver)
		if mx := c.cfg.GetMaxDeliver(); mx > 0 && p.n >= uint32(mx) {
			c.drop(s, seq)
			freed = true
			continue
		}
		p.n++
		p.waiting = false
		if p.n > 1 {
			c.numRedelivered++
		}
		out = append(out, c.deliverOne(s, seq, e, p, at))
		bytes += int64(len(e.data))
	}
	maxPending := int(c.cfg.GetMaxAckPending())
	for len(out) < batch && (maxPending <= 0 || len(c.pending) < maxPending) {
		seq, e := s.nextMatch(c, c.next)
		if e == nil {
			c.next = s.last + 1
			break
		}
		if full(e) {
			break
		}
		c.next = seq + 1
		var p *pend
		if !c.ackNone() {
			p = &pend{n: 1}
			c.pending[seq] = p
		}
		out = append(out, c.deliverOne(s, seq, e, p, at))
		bytes += int64(len(e.data))
		if p == nil {
			s.settled(c, seq)
		}
	}
	if freed {
		m.fireConsumer(c)
	}
	if len(out) == 0 {
		return &sp.StreamServiceFetchResponse{Result: result.Failf("expired", "nothing to deliver")}
	}
	return &sp.StreamServiceFetchResponse{Result: result.OK(), Msgs: out}
}

func (c *consumer) deliverOne(s *strm, seq uint64, e *entry, p *pend, at int64) *sp.StreamMsg {
	c.dseq++
	c.lastSeq = max(c.lastSeq, seq)
	c.lastAt = at
	msg := s.msg(seq, e)
	msg.Consumer = c.name
	msg.ConsumerSeq = c.dseq
	msg.NumDelivered = 1
	if p != nil {
		p.cseq = c.dseq
		p.deadline = msec.Add(at, c.wait(p.n))
		heap.Push(&c.deadlines, deadline{at: p.deadline, seq: seq})
		msg.NumDelivered = p.n
	}
	if s.last > seq {
		msg.NumPending = s.last - seq
	}
	return msg
}

// nextMatch finds the first live message at or after seq that c takes.
// A filtered consumer remembers how far it found nothing (scanned), so a
// consumer whose filter rarely matches does not rescan the stream on every
// publish. scanned is derived, not replicated: sequences only grow, so no
// message can appear below it later.
func (s *strm) nextMatch(c *consumer, seq uint64) (uint64, *entry) {
	seq = max(seq, s.first)
	filtered := len(c.cfg.GetFilterSubjects()) > 0
	if filtered {
		seq = max(seq, c.scanned.Load())
	}
	for ; seq <= s.last; seq++ {
		e := s.at0(seq)
		if e.live && (!filtered || c.matches(e.subject)) {
			return seq, e
		}
	}
	if filtered {
		c.scanned.Store(seq)
	}
	return 0, nil
}

// hasWork reports whether deliver would hand out something now.
func (s *strm) hasWork(c *consumer) bool {
	for _, seq := range c.redeliver {
		if p := c.pending[seq]; p != nil && p.waiting {
			return true
		}
	}
	if mp := int(c.cfg.GetMaxAckPending()); mp > 0 && len(c.pending) >= mp {
		return false
	}
	_, e := s.nextMatch(c, c.next)
	return e != nil
}

func (c *consumer) drop(s *strm, seq uint64) {
	delete(c.pending, seq)
	c.numDropped++
	s.settled(c, seq)
}

// expire moves pending deliveries whose deadline passed to the redelivery
// queue (or drops them after MaxDeliver). It reports whether any moved.
func (c *consumer) expire(s *strm, at int64) bool {
	moved := false
	for len(c.deadlines) > 0 && c.deadlines[0].at <= at {
		d := heap.Pop(&c.deadlines).(deadline)
		p := c.pending[d.seq]
		if p == nil || p.waiting || p.deadline != d.at {
			continue
		}
		moved = true
		if s.slot(d.seq) == nil {
			delete(c.pending, d.seq)
			continue
		}
		if mx := c.cfg.GetMaxDeliver(); mx > 0 && p.n >= uint32(mx) {
			c.drop(s, d.seq)
			continue
		}
		p.waiting = true
		heap.Push(&c.redeliver, d.seq)
	}
	return moved
}

func (m *Machine) ack(req *sp.StreamServiceAckRequest, at int64) *sp.StreamServiceAckResponse {
	s, c, r := m.consumerOf(req.GetStream(), req.GetConsumer())
	if r != nil {
		return &sp.StreamServiceAckResponse{Result: r}
	}
	c.lastActive = at
	results := make([]*commonpb.Result, len(req.GetItems()))
	changed := false
	for i, it := range req.GetItems() {
		res, ch := c.settle(s, it, at)
		results[i] = res
		changed = changed || ch
	}
	if changed {
		m.fireConsumer(c)
	}
	return &sp.StreamServiceAckResponse{Result: result.OK(), Results: results}
}

func (c *consumer) settle(s *strm, it *sp.StreamAckItem, at int64) (*commonpb.Result, bool) {
	seq := it.GetStreamSeq()
	p := c.pending[seq]
	kind := it.GetKind()
	final := kind == sp.StreamAckKind_STREAM_ACK_KIND_UNSPECIFIED || kind == sp.StreamAckKind_STREAM_ACK_KIND_ACK || kind == sp.StreamAckKind_STREAM_ACK_KIND_TERM
	if p == nil || p.n == 0 {
		if p == nil && seq < c.next && seq > 0 {
			if final {
				return result.OK(), false // already settled: acks are idempotent
			}
			return result.Failf(result.CodeNotFound, "stream_seq: %d is already settled", seq), false
		}
		return result.Failf(result.CodeNotFound, "stream_seq: %d was not delivered to consumer %q", seq, c.name), false
	}
	if final {
		if c.cfg.GetAckPolicy() == sp.ConsumerAckPolicy_CONSUMER_ACK_POLICY_ALL {
			var below []uint64
			for q, pp := range c.pending {
				if q <= seq && pp.n > 0 {
					below = append(below, q)
				}
			}
			sort.Slice(below, func(i, j int) bool { return below[i] < below[j] })
			for _, q := range below {
				delete(c.pending, q)
				s.settled(c, q)
			}
			return result.OK(), true
		}
		delete(c.pending, seq)
		s.settled(c, seq)
		return result.OK(), true
	}
	if it.GetNumDelivered() != 0 && it.GetNumDelivered() != p.n {
		return result.Failf(result.CodeNotOwner, "num_delivered: delivery %d of stream_seq %d was superseded by delivery %d", it.GetNumDelivered(), seq, p.n), false
	}
	if p.waiting {
		return result.Failf(result.CodeNotOwner, "stream_seq: %d ack wait already ended; it is queued for redelivery", seq), false
	}
	switch kind {
	case sp.StreamAckKind_STREAM_ACK_KIND_NAK:
		if d := it.GetNakDelayMs(); d > 0 {
			p.deadline = msec.Add(at, d)
			heap.Push(&c.deadlines, deadline{at: p.deadline, seq: seq})
			return result.OK(), false
		}
		p.waiting = true
		heap.Push(&c.redeliver, seq)
		return result.OK(), true
	case sp.StreamAckKind_STREAM_ACK_KIND_IN_PROGRESS:
		p.deadline = msec.Add(at, c.wait(p.n))
		heap.Push(&c.deadlines, deadline{at: p.deadline, seq: seq})
		return result.OK(), false
	}
	return result.Failf(result.CodeInvalidArgument, "kind: unknown ack kind %d", kind), false
}

func (s *strm) sortedConsumers() []string {
	out := make([]string, 0, len(s.consumers))
	for k := range s.consumers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *strm) consumerInfo(c *consumer) *sp.ConsumerInfo {
	info := &sp.ConsumerInfo{
		Stream: s.name, Name: c.name, Config: proto.Clone(c.cfg).(*sp.ConsumerConfig), CreatedAtMs: c.created,
		Delivered:            &sp.ConsumerSequences{ConsumerSeq: c.dseq, StreamSeq: c.lastSeq, LastActiveAtMs: c.lastAt},
		NumRedelivered:       c.numRedelivered,
		NumDroppedMaxDeliver: c.numDropped,
	}
	floor := c.next - 1
	if c.next == 0 {
		floor = 0
	}
	for q, p := range c.pending {
		info.NumAckPending++
		if p.n > 0 && q <= floor {
			floor = q - 1
		}
	}
	info.AckFloor = &sp.ConsumerSequences{StreamSeq: floor}
	for seq := max(c.next, s.first); seq <= s.last; seq++ {
		if e := s.slot(seq); e != nil && c.matches(e.subject) {
			info.NumPending++
		}
	}
	return info
}

package stream

import (
	"sort"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// entry is one stored message slot. Slots are kept in sequence order; a
// removed message leaves a dead slot until the head is compacted.
type entry struct {
	subject string
	data    []byte
	hdrs    []*commonpb.Header
	msgID   string
	at      int64
	live    bool
}

func (e *entry) size() int64 {
	n := int64(len(e.subject) + len(e.data))
	for _, h := range e.hdrs {
		n += int64(len(h.GetKey()))
		for _, v := range h.GetValues() {
			n += int64(len(v))
		}
	}
	return n
}

type subjState struct {
	name  string // shared by every stored message of the subject
	count int64
	last  uint64
	// seqs lists this subject's sequences, oldest first, when the stream
	// has MaxMsgsPerSubject; removed ones are skipped lazily.
	seqs []uint64
}

type dedupEntry struct {
	seq uint64
	at  int64
}

type dedupRef struct {
	id string
	at int64
}

// strm is one stream's state.
type strm struct {
	name    string
	cfg     *sp.StreamConfig // defaults filled in
	created int64
	filters []string // the subjects it binds

	base   uint64    // sequence of blocks[0][0]
	blocks [][]entry // slots base .. last, blockSize per block
	first  uint64    // oldest live sequence; last+1 when empty
	last   uint64
	lastAt int64
	count  int64
	bytes  int64

	subjects map[string]*subjState
	dedup    map[string]dedupEntry
	dedupQ   []dedupRef // insertion (time) order, for expiry
	dedupH   int        // head of dedupQ

	consumers map[string]*consumer

	// cow lists the message blocks a snapshot writer still reads: a
	// removal copies such a block before clearing a slot (own). Only the
	// FSM goroutine touches it.
	cow *cowBlocks
}

func newStrm(cfg *sp.StreamConfig, at int64) *strm {
	s := &strm{
		name: cfg.GetName(), cfg: cfg, created: at, base: 1, first: 1,
		subjects: map[string]*subjState{}, dedup: map[string]dedupEntry{}, consumers: map[string]*consumer{},
	}
	s.setFilters()
	return s
}

func (s *strm) setFilters() {
	s.filters = s.cfg.GetSubjects()
	if len(s.filters) == 0 {
		s.filters = []string{s.name, s.name + ".>"}
	}
}

// Slots live in fixed-size blocks, so appending never copies stored
// messages and a dead head is dropped a block at a time.
const (
	blockShift = 10
	blockSize  = 1 << blockShift
)

// at0 returns the slot of seq, which must be in base..last.
func (s *strm) at0(seq uint64) *entry {
	off := seq - s.base
	return &s.blocks[off>>blockShift][off&(blockSize-1)]
}

func (s *strm) slot(seq uint64) *entry {
	if seq < s.base || seq > s.last {
		return nil
	}
	e := s.at0(seq)
	if !e.live {
		return nil
	}
	return e
}

func (s *strm) at(seq uint64) int64 {
	if e := s.slot(seq); e != nil {
		return e.at
	}
	return 0
}

// FillStreamDefaults returns a copy of cfg with zero values replaced by the
// server defaults, as stored and answered.
func FillStreamDefaults(cfg *sp.StreamConfig) *sp.StreamConfig {
	c := proto.Clone(cfg).(*sp.StreamConfig)
	if c.Retention == sp.StreamRetention_STREAM_RETENTION_UNSPECIFIED {
		c.Retention = sp.StreamRetention_STREAM_RETENTION_LIMITS
	}
	if c.Discard == sp.StreamDiscard_STREAM_DISCARD_UNSPECIFIED {
		c.Discard = sp.StreamDiscard_STREAM_DISCARD_OLD
	}
	if c.MaxMsgSize == 0 {
		c.MaxMsgSize = DefaultMaxMsgSize
	}
	if c.DuplicateWindowMs == 0 {
		c.DuplicateWindowMs = DefaultDuplicateWindowMs
	}
	return c
}

// overlapping answers, for the first of subjects (in order) that overlaps
// a subject of another stream, that stream, its subject and ours; "" when
// none does. It walks the subject index, so its cost is the new subjects'
// tokens times the wildcard fan-out they meet, never the number of stored
// subjects: the check runs inside apply, where it holds up every write.
// The caller has taken the stream's own subjects out of the index.
func (m *Machine) overlapping(subjects []string) (stream, theirs, ours string) {
	for _, g := range subjects {
		if !m.subjIdx.any(g) {
			continue
		}
		o, _ := m.subjIdx.first(g) // least stream name: the same answer on every node
		return o.name, m.streams[o.name].filters[o.idx], g
	}
	return "", "", ""
}

func bindings(cfg *sp.StreamConfig) []string {
	if len(cfg.GetSubjects()) == 0 {
		return []string{cfg.GetName(), cfg.GetName() + ".>"}
	}
	return cfg.GetSubjects()
}

func (m *Machine) createStream(cfg *sp.StreamConfig, at int64) *sp.StreamServiceCreateStreamResponse {
	cfg = FillStreamDefaults(cfg)
	if s, ok := m.streams[cfg.GetName()]; ok {
		if proto.Equal(s.cfg, cfg) {
			return &sp.StreamServiceCreateStreamResponse{Result: result.OK(), Info: s.info()}
		}
		return &sp.StreamServiceCreateStreamResponse{Result: result.Failf(result.CodeExists, "stream %q exists with a different configuration", cfg.GetName())}
	}
	// No count limit here: the API refuses more than its configured
	// MaxSubjectsPerStream, but a committed create must apply alike on every
	// node and every replay, whatever limit each was started with, and a log
	// written before the limit existed may hold more. The index keeps the
	// cost linear in the command's subjects either way.
	if on, f, g := m.overlapping(bindings(cfg)); on != "" {
		return &sp.StreamServiceCreateStreamResponse{Result: result.Failf(result.CodeConflict, "subjects: %q overlaps stream %q's subject %q; two streams may not bind overlapping subjects", g, on, f)}
	}
	s := newStrm(cfg, at)
	m.streams[s.name] = s
	m.subjIdx.insert(s.name, s.filters)
	clear(m.bySubject)
	return &sp.StreamServiceCreateStreamResponse{Result: result.OK(), Info: s.info()}
}

func (m *Machine) updateStream(cfg *sp.StreamConfig, at int64) *sp.StreamServiceUpdateStreamResponse {
	cfg = FillStreamDefaults(cfg)
	s, ok := m.streams[cfg.GetName()]
	if !ok {
		return &sp.StreamServiceUpdateStreamResponse{Result: result.Failf(result.CodeNotFound, "stream %q not found", cfg.GetName())}
	}
	if cfg.GetRetention() != s.cfg.GetRetention() {
		return &sp.StreamServiceUpdateStreamResponse{Result: result.Failf(result.CodeInvalidArgument, "retention: cannot change a stream's retention (%v to %v)", s.cfg.GetRetention(), cfg.GetRetention())}
	}
	// The stream's own subjects leave the index for the check, so a new
	// subject is never compared with the old ones it replaces.
	m.subjIdx.remove(s.name, s.filters)
	if on, f, g := m.overlapping(bindings(cfg)); on != "" {
		m.subjIdx.insert(s.name, s.filters)
		return &sp.StreamServiceUpdateStreamResponse{Result: result.Failf(result.CodeConflict, "subjects: %q overlaps stream %q's subject %q; two streams may not bind overlapping subjects", g, on, f)}
	}
	perSubj := cfg.GetMaxMsgsPerSubject() > 0 && s.cfg.GetMaxMsgsPerSubject() == 0
	s.cfg = cfg
	s.setFilters()
	m.subjIdx.insert(s.name, s.filters)
	clear(m.bySubject)
	if perSubj {
		s.rebuildSubjectSeqs()
	}
	s.enforceLimits(at, "")
	m.fire(s.name)
	return &sp.StreamServiceUpdateStreamResponse{Result: result.OK(), Info: s.info()}
}

func (m *Machine) deleteStream(name string) *sp.StreamServiceDeleteStreamResponse {
	s, ok := m.streams[name]
	if !ok {
		return &sp.StreamServiceDeleteStreamResponse{Result: result.Failf(result.CodeNotFound, "stream %q not found", name)}
	}
	m.subjIdx.remove(name, s.filters)
	delete(m.streams, name)
	clear(m.bySubject)
	m.fireStream(s)
	return &sp.StreamServiceDeleteStreamResponse{Result: result.OK()}
}

func (s *strm) rebuildSubjectSeqs() {
	for _, st := range s.subjects {
		st.seqs = st.seqs[:0]
	}
	for seq := s.first; seq <= s.last && seq >= s.base; seq++ {
		if e := s.slot(seq); e != nil {
			st := s.subjects[e.subject]
			st.seqs = append(st.seqs, seq)
		}
	}
}

// publishBatch applies messages in order; each has its own outcome.
func (m *Machine) publishBatch(msgs []pubMsg, at int64) *sp.StreamServicePublishBatchResponse {
	acks := make([]*sp.StreamPubAck, len(msgs))
	store := make([]sp.StreamPubAck, len(msgs)) // one allocation for every ack
	var lastStream *strm
	for i := range msgs {
		a := &store[i]
		m.publish(&msgs[i], at, a)
		acks[i] = a
		if a.Result.GetSuccess() && (lastStream == nil || lastStream.name != a.Stream) {
			if s := m.streams[a.Stream]; s != nil {
				lastStream = s
				m.fire(s.name)
			}
		}
	}
	return &sp.StreamServicePublishBatchResponse{Result: result.OK(), Acks: acks}
}

func (m *Machine) publish(msg *pubMsg, at int64, a *sp.StreamPubAck) {
	s := m.streamFor(msg.subject)
	if s == nil {
		a.Result = result.Failf(result.CodeNoSubject, "subject: %q is bound by no stream", msg.subject)
		return
	}
	a.Stream = s.name
	if es := msg.expStream; len(es) > 0 && string(es) != s.name {
		a.Result = result.Failf(result.CodeNoSubject, "subject: %q is bound by stream %q, not the expected stream %q", msg.subject, s.name, es)
		return
	}
	s.expireDedup(at)
	if len(msg.msgID) > 0 {
		if d, dup := s.dedup[string(msg.msgID)]; dup {
			a.Result, a.Seq, a.Duplicate = result.OK(), d.seq, true
			return
		}
	}
	if msg.flags&flagLastSeq != 0 && msg.lastSeq != s.last {
		a.Result = result.Failf(result.CodeWrongSequence, "expected_last_seq: stream %q last sequence is %d, expected %d", s.name, s.last, msg.lastSeq)
		return
	}
	st := s.subjects[string(msg.subject)]
	if msg.flags&flagLastSubjectSeq != 0 {
		var last uint64
		if st != nil {
			last = st.last
		}
		if last != msg.lastSubjectSeq {
			a.Result = result.Failf(result.CodeWrongSequence, "expected_last_subject_seq: subject %q last sequence is %d, expected %d", msg.subject, last, msg.lastSubjectSeq)
			return
		}
	}
	if msg.flags&flagLastMsgID != 0 {
		var last string
		if e := s.slot(s.last); e != nil {
			last = e.msgID
		}
		if last != string(msg.lastMsgID) {
			a.Result = result.Failf(result.CodeWrongSequence, "expected_last_msg_id: stream %q last msg_id is %q, expected %q", s.name, last, msg.lastMsgID)
			return
		}
	}
	var subject string
	if st != nil {
		subject = st.name
	} else {
		subject = string(msg.subject)
	}
	var id string
	if len(msg.msgID) > 0 {
		id = string(msg.msgID)
	}
	e := entry{subject: subject, data: msg.data, hdrs: msg.hdrs, msgID: id, at: at, live: true}
	size := e.size()
	if max := s.cfg.GetMaxMsgSize(); size > max {
		a.Result = result.Failf(result.CodeLimitExceeded, "data: message is %d bytes, stream %q max_msg_size is %d", size, s.name, max)
		return
	}
	if s.cfg.GetDiscard() == sp.StreamDiscard_STREAM_DISCARD_NEW {
		s.expireAge(at)
		if mm := s.cfg.GetMaxMsgs(); mm > 0 && s.count+1 > mm {
			a.Result = result.Failf(result.CodeLimitExceeded, "max_msgs: stream %q holds %d messages, limit %d, discard new", s.name, s.count, mm)
			return
		}
		if mb := s.cfg.GetMaxBytes(); mb > 0 && s.bytes+size > mb {
			a.Result = result.Failf(result.CodeLimitExceeded, "max_bytes: stream %q holds %d bytes, limit %d, discard new", s.name, s.bytes, mb)
			return
		}
	}
	seq := s.append(e, size)
	if id != "" {
		s.dedup[id] = dedupEntry{seq: seq, at: at}
		s.dedupQ = append(s.dedupQ, dedupRef{id: id, at: at})
	}
	s.enforceLimits(at, subject)
	if s.cfg.GetRetention() == sp.StreamRetention_STREAM_RETENTION_INTEREST && s.slot(seq) != nil && !s.anyInterest(seq) {
		s.remove(seq) // nobody will ever ack it
	}
	a.Result, a.Seq = result.OK(), seq
}

func (s *strm) append(e entry, size int64) uint64 {
	if s.count == 0 && len(s.blocks) > 0 {
		// Every slot is dead: start over.
		clear(s.blocks)
		s.blocks = s.blocks[:0]
		s.base = s.last + 1
	}
	st := s.subjects[e.subject]
	if st == nil {
		st = &subjState{name: e.subject}
		s.subjects[e.subject] = st
	}
	e.subject = st.name // keep one copy of the subject string
	s.last++
	seq := s.last
	off := seq - s.base
	if int(off>>blockShift) == len(s.blocks) {
		s.blocks = append(s.blocks, make([]entry, blockSize))
	}
	s.blocks[off>>blockShift][off&(blockSize-1)] = e
	if s.count == 0 {
		s.first = seq
	}
	s.count++
	s.bytes += size
	s.lastAt = e.at
	st.count++
	st.last = seq
	if s.cfg.GetMaxMsgsPerSubject() > 0 {
		st.seqs = append(st.seqs, seq)
	}
	return seq
}

// remove deletes the live message at seq and keeps every count right.
func (s *strm) remove(seq uint64) bool {
	e := s.slot(seq)
	if e == nil {
		return false
	}
	s.count--
	s.bytes -= e.size()
	if st := s.subjects[e.subject]; st != nil {
		st.count--
		if st.count == 0 {
			delete(s.subjects, e.subject)
		} else if st.last == seq {
			for q := seq - 1; q >= s.first && q >= s.base; q-- {
				if o := s.slot(q); o != nil && o.subject == e.subject {
					st.last = q
					break
				}
			}
		}
	}
	*s.own(seq) = entry{}
	if seq == s.first {
		s.advanceFirst()
	}
	return true
}

func (s *strm) advanceFirst() {
	for s.first <= s.last && !s.at0(s.first).live {
		s.first++
	}
	// Drop blocks that hold only dead slots.
	for len(s.blocks) > 1 && s.first-s.base >= blockSize {
		s.blocks[0] = nil
		s.blocks = s.blocks[1:]
		s.base += blockSize
	}
}

func (s *strm) expireDedup(at int64) {
	w := s.cfg.GetDuplicateWindowMs()
	for s.dedupH < len(s.dedupQ) && msec.Add(s.dedupQ[s.dedupH].at, w) <= at {
		r := s.dedupQ[s.dedupH]
		if d, ok := s.dedup[r.id]; ok && d.at == r.at {
			delete(s.dedup, r.id)
		}
		s.dedupQ[s.dedupH] = dedupRef{}
		s.dedupH++
	}
	if s.dedupH > 1024 && s.dedupH > len(s.dedupQ)/2 {
		n := copy(s.dedupQ, s.dedupQ[s.dedupH:])
		s.dedupQ = s.dedupQ[:n]
		s.dedupH = 0
	}
}

// expireAge removes messages older than MaxAge; it reports whether any went.
func (s *strm) expireAge(at int64) bool {
	age := s.cfg.GetMaxAgeMs()
	if age <= 0 {
		return false
	}
	removed := false
	for s.count > 0 && msec.Add(s.at0(s.first).at, age) <= at {
		s.remove(s.first)
		removed = true
	}
	return removed
}

// enforceLimits removes the oldest messages until every limit holds. With
// only set, the per-subject limit is checked for that subject alone (a
// publish can only have pushed its own subject over).
func (s *strm) enforceLimits(at int64, only string) {
	s.expireAge(at)
	if mm := s.cfg.GetMaxMsgs(); mm > 0 {
		for s.count > mm {
			s.remove(s.first)
		}
	}
	if mb := s.cfg.GetMaxBytes(); mb > 0 {
		for s.bytes > mb && s.count > 0 {
			s.remove(s.first)
		}
	}
	if mp := s.cfg.GetMaxMsgsPerSubject(); mp > 0 {
		subjects := []string{only}
		if only == "" {
			subjects = s.sortedSubjects()
		}
		for _, subj := range subjects {
			st := s.subjects[subj]
			for st != nil && st.count > mp {
				for len(st.seqs) > 0 {
					q := st.seqs[0]
					st.seqs = st.seqs[1:]
					if e := s.slot(q); e != nil && e.subject == subj {
						s.remove(q)
						break
					}
				}
				st = s.subjects[subj]
			}
		}
	}
}

func (s *strm) sortedSubjects() []string {
	if len(s.subjects) == 1 {
		for k := range s.subjects {
			return []string{k}
		}
	}
	out := make([]string, 0, len(s.subjects))
	for k := range s.subjects {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *Machine) purge(req *sp.StreamServicePurgeRequest, at int64) *sp.StreamServicePurgeResponse {
	s, ok := m.streams[req.GetStream()]
	if !ok {
		return &sp.StreamServicePurgeResponse{Result: result.Failf(result.CodeNotFound, "stream %q not found", req.GetStream())}
	}
	filter := req.GetSubject()
	var matching []uint64
	for seq := s.first; seq <= s.last; seq++ {
		e := s.slot(seq)
		if e == nil || (filter != "" && !Match(filter, e.subject)) {
			continue
		}
		if req.GetSeq() != 0 && seq >= req.GetSeq() {
			break
		}
		matching = append(matching, seq)
	}
	if k := req.GetKeep(); k > 0 {
		if uint64(len(matching)) <= k {
			matching = nil
		} else {
			matching = matching[:uint64(len(matching))-k]
		}
	}
	for _, seq := range matching {
		s.remove(seq)
	}
	s.dropGonePending()
	m.fire(s.name)
	return &sp.StreamServicePurgeResponse{Result: result.OK(), Purged: uint64(len(matching))}
}

func (m *Machine) deleteMsg(req *sp.StreamServiceDeleteMsgRequest, at int64) *sp.StreamServiceDeleteMsgResponse {
	s, ok := m.streams[req.GetStream()]
	if !ok {
		return &sp.StreamServiceDeleteMsgResponse{Result: result.Failf(result.CodeNotFound, "stream %q not found", req.GetStream())}
	}
	if !s.remove(req.GetSeq()) {
		return &sp.StreamServiceDeleteMsgResponse{Result: result.Failf(result.CodeNotFound, "seq: stream %q has no message at %d", s.name, req.GetSeq())}
	}
	s.dropGonePending()
	m.fire(s.name)
	return &sp.StreamServiceDeleteMsgResponse{Result: result.OK()}
}

// dropGonePending forgets pending deliveries of removed messages, so they
// stop counting against MaxAckPending.
func (s *strm) dropGonePending() {
	for _, c := range s.consumers {
		for seq := range c.pending {
			if s.slot(seq) == nil {
				delete(c.pending, seq)
			}
		}
	}
}

func (s *strm) info() *sp.StreamInfo {
	st := &sp.StreamState{
		Msgs: s.count, Bytes: s.bytes, LastSeq: s.last, LastAtMs: s.lastAt,
		NumSubjects: int64(len(s.subjects)), ConsumerCount: int32(len(s.consumers)),
	}
	if s.count > 0 {
		st.FirstSeq = s.first
		st.FirstAtMs = s.at(s.first)
		st.NumDeleted = int64(s.last-s.first+1) - s.count
	} else if s.last > 0 {
		st.FirstSeq = s.last + 1
	}
	return &sp.StreamInfo{Config: proto.Clone(s.cfg).(*sp.StreamConfig), State: st, CreatedAtMs: s.created}
}

func (s *strm) msg(seq uint64, e *entry) *sp.StreamMsg {
	return &sp.StreamMsg{Stream: s.name, Subject: e.subject, Data: e.data, Headers: e.hdrs, StreamSeq: seq, StoredAtMs: e.at, MsgId: e.msgID}
}

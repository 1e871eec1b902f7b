package stream

import (
	"bufio"
	"container/heap"
	"encoding/gob"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
)

// The snapshot is a gob stream of snapState. Configurations travel as
// marshalled protos; message slots as snapMsg. Caches and heaps are derived
// and rebuilt on Restore.

type snapState struct {
	Version int
	EphSeq  uint64
	Streams []snapStream
}

type snapStream struct {
	Config    []byte
	Created   int64
	Base      uint64
	Last      uint64
	LastAt    int64
	Msgs      []snapMsg // live messages only
	Dedup     []snapDedup
	Consumers []snapConsumer
}

type snapMsg struct {
	Seq     uint64
	Subject string
	Data    []byte
	Hdrs    []snapHdr
	MsgID   string
	At      int64
}

type snapHdr struct {
	Key    string
	Values []string
}

type snapDedup struct {
	ID  string
	Seq uint64
	At  int64
}

type snapConsumer struct {
	Name           string
	Config         []byte
	Created        int64
	StartSeq       uint64
	Next           uint64
	DSeq           uint64
	LastSeq        uint64
	LastAt         int64
	LastActive     int64
	Durable        bool
	NumRedelivered int64
	NumDropped     int64
	Pending        []snapPend
}

type snapPend struct {
	Seq      uint64
	CSeq     uint64
	N        uint32
	Deadline int64
	Waiting  bool
}

// Version 2 streams: a snapHead, then per stream a snapStream (Msgs
// empty) followed by its Count messages, one snapMsg each, so neither the
// writer nor Restore holds more than one message's record at a time.
// Version 1 was one snapState value; Restore still reads it.
const (
	snapVersion   = 2
	snapVersionV1 = 1
)

// snapHead is the first value of a snapshot. A version 1 snapshot's
// snapState decodes into it too (Streams set, Count 0).
type snapHead struct {
	Version int
	EphSeq  uint64
	Count   int          // version 2: the streams that follow
	Streams []snapStream // version 1 only
}

type snapStreamV2 struct {
	Stream  snapStream
	NumMsgs int64
}

// cowBlocks is the set of message blocks shared with a snapshot writer,
// by their first slot, until the writer is done.
type cowBlocks struct {
	blocks map[*entry]struct{}
	done   atomic.Bool
}

// own returns the slot of seq for writing: when its block is shared with
// a snapshot writer still running, the block is copied first, so the
// writer keeps reading the messages as they were at the cut.
func (s *strm) own(seq uint64) *entry {
	if s.cow != nil {
		if s.cow.done.Load() {
			s.cow = nil
		} else {
			bi := (seq - s.base) >> blockShift
			blk := s.blocks[bi]
			if _, ok := s.cow.blocks[&blk[0]]; ok {
				delete(s.cow.blocks, &blk[0])
				s.blocks[bi] = slices.Clone(blk)
			}
		}
	}
	return s.at0(seq)
}

// frozenStream is what a snapshot writer reads of one stream: its
// metadata, copied, and its message blocks, shared copy-on-write.
type frozenStream struct {
	head   snapStream
	base   uint64
	first  uint64
	last   uint64
	count  int64
	blocks [][]entry
}

// Snapshot takes the consistent cut on the FSM goroutine: per stream its
// configuration, dedup window and consumers (copied: small next to the
// messages) and the list of its message blocks, which apply copies before
// changing a slot in one (copy on write) until the writer is done. So the
// cut costs O(streams + consumers' pending + blocks), not O(messages); the
// writer encodes the messages later on raft's snapshot goroutine.
func (m *Machine) Snapshot() (func(w io.Writer) error, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cow := &cowBlocks{blocks: map[*entry]struct{}{}}
	ephSeq := m.ephSeq
	var frozen []frozenStream
	for _, name := range m.sortedNames() {
		s := m.streams[name]
		cfg, err := proto.Marshal(s.cfg)
		if err != nil {
			return nil, err
		}
		f := frozenStream{head: snapStream{Config: cfg, Created: s.created, Base: s.base, Last: s.last, LastAt: s.lastAt},
			base: s.base, first: s.first, last: s.last, count: s.count, blocks: slices.Clone(s.blocks)}
		for _, blk := range s.blocks {
			if len(blk) > 0 {
				cow.blocks[&blk[0]] = struct{}{}
			}
		}
		s.cow = cow
		for i := s.dedupH; i < len(s.dedupQ); i++ {
			r := s.dedupQ[i]
			if d, ok := s.dedup[r.id]; ok && d.at == r.at {
				f.head.Dedup = append(f.head.Dedup, snapDedup{ID: r.id, Seq: d.seq, At: d.at})
			}
		}
		for _, cn := range s.sortedConsumers() {
			c := s.consumers[cn]
			ccfg, err := proto.Marshal(c.cfg)
			if err != nil {
				return nil, err
			}
			sc := snapConsumer{Name: c.name, Config: ccfg, Created: c.created, StartSeq: c.startSeq, Next: c.next, DSeq: c.dseq,
				LastSeq: c.lastSeq, LastAt: c.lastAt, LastActive: c.lastActive, Durable: c.durable,
				NumRedelivered: c.numRedelivered, NumDropped: c.numDropped}
			for seq, p := range c.pending {
				sc.Pending = append(sc.Pending, snapPend{Seq: seq, CSeq: p.cseq, N: p.n, Deadline: p.deadline, Waiting: p.waiting})
			}
			f.head.Consumers = append(f.head.Consumers, sc)
		}
		frozen = append(frozen, f)
	}
	return func(w io.Writer) error {
		defer cow.done.Store(true)
		bw := bufio.NewWriterSize(w, 64<<10)
		enc := gob.NewEncoder(bw)
		if err := enc.Encode(&snapHead{Version: snapVersion, EphSeq: ephSeq, Count: len(frozen)}); err != nil {
			return fmt.Errorf("stream snapshot: %w", err)
		}
		for i := range frozen {
			f := &frozen[i]
			if err := enc.Encode(&snapStreamV2{Stream: f.head, NumMsgs: f.count}); err != nil {
				return fmt.Errorf("stream snapshot: %w", err)
			}
			var sm snapMsg
			n := int64(0)
			for seq := f.first; seq <= f.last && n < f.count; seq++ {
				off := seq - f.base
				e := &f.blocks[off>>blockShift][off&(blockSize-1)]
				if !e.live {
					continue
				}
				sm = snapMsg{Seq: seq, Subject: e.subject, Data: e.data, MsgID: e.msgID, At: e.at, Hdrs: sm.Hdrs[:0]}
				for _, h := range e.hdrs {
					sm.Hdrs = append(sm.Hdrs, snapHdr{Key: h.GetKey(), Values: h.GetValues()})
				}
				if err := enc.Encode(&sm); err != nil {
					return fmt.Errorf("stream snapshot: %w", err)
				}
				n++
			}
			if n != f.count {
				return fmt.Errorf("stream snapshot: stream %d: %d live messages, counted %d", i, n, f.count)
			}
		}
		return bw.Flush()
	}, nil
}

// Restore replaces the whole state with a snapshot's; an empty reader means
// the empty state.
func (m *Machine) Restore(r io.Reader) error {
	var head snapHead
	br := bufio.NewReaderSize(r, 64<<10)
	var dec *gob.Decoder
	if _, err := br.Peek(1); err == io.EOF {
		head = snapHead{Version: snapVersion}
	} else {
		dec = gob.NewDecoder(br)
		if err := dec.Decode(&head); err != nil {
			return fmt.Errorf("stream restore: %w", err)
		}
	}
	if head.Version != snapVersion && head.Version != snapVersionV1 {
		return fmt.Errorf("stream restore: unknown snapshot version %d", head.Version)
	}
	st := snapState{Version: head.Version, EphSeq: head.EphSeq, Streams: head.Streams}
	// next yields the streams, and each stream's messages, in order.
	nextStream := func(i int) (snapStream, func() (snapMsg, bool, error), error) {
		if head.Version == snapVersionV1 {
			ss := st.Streams[i]
			j := 0
			return ss, func() (snapMsg, bool, error) {
				if j == len(ss.Msgs) {
					return snapMsg{}, false, nil
				}
				j++
				return ss.Msgs[j-1], true, nil
			}, nil
		}
		var ss snapStreamV2
		if err := dec.Decode(&ss); err != nil {
			return snapStream{}, nil, err
		}
		if ss.NumMsgs < 0 {
			return snapStream{}, nil, fmt.Errorf("stream snapshot claims %d messages", ss.NumMsgs)
		}
		left := ss.NumMsgs
		return ss.Stream, func() (snapMsg, bool, error) {
			if left == 0 {
				return snapMsg{}, false, nil
			}
			left--
			var sm snapMsg
			err := dec.Decode(&sm)
			return sm, err == nil, err
		}, nil
	}
	nStreams := head.Count
	if head.Version == snapVersionV1 {
		nStreams = len(st.Streams)
	}
	streams := map[string]*strm{}
	var idx subjectIndex
	for i := range nStreams {
		ss, msgs, err := nextStream(i)
		if err != nil {
			return fmt.Errorf("stream restore: %w", err)
		}
		cfg := &sp.StreamConfig{}
		if err := proto.Unmarshal(ss.Config, cfg); err != nil {
			return fmt.Errorf("stream restore: %w", err)
		}
		s := newStrm(cfg, ss.Created)
		s.base, s.last, s.lastAt = ss.Base, ss.Last, ss.LastAt
		first := true
		s.first = s.last + 1
		for {
			sm, ok, err := msgs()
			if err != nil {
				return fmt.Errorf("stream restore: %w", err)
			}
			if !ok {
				break
			}
			if first {
				// The blocks start at the first message kept.
				first = false
				s.base = sm.Seq
				for n := s.last + 1 - s.base; uint64(len(s.blocks))*blockSize < n; {
					s.blocks = append(s.blocks, make([]entry, blockSize))
				}
			}
			if sm.Seq < s.base || sm.Seq > s.last {
				return fmt.Errorf("stream restore: message %d outside %d..%d", sm.Seq, s.base, s.last)
			}
			sj := s.subjects[sm.Subject]
			if sj == nil {
				sj = &subjState{name: sm.Subject}
				s.subjects[sm.Subject] = sj
			}
			e := entry{subject: sj.name, data: sm.Data, msgID: sm.MsgID, at: sm.At, live: true}
			for _, h := range sm.Hdrs {
				e.hdrs = append(e.hdrs, &commonpb.Header{Key: h.Key, Values: h.Values})
			}
			*s.at0(sm.Seq) = e
			s.count++
			s.bytes += e.size()
			s.first = min(s.first, sm.Seq)
			sj.count++
			sj.last = sm.Seq
			if cfg.GetMaxMsgsPerSubject() > 0 {
				sj.seqs = append(sj.seqs, sm.Seq)
			}
		}
		if first {
			s.base = s.last + 1
		}
		for _, d := range ss.Dedup {
			s.dedup[d.ID] = dedupEntry{seq: d.Seq, at: d.At}
			s.dedupQ = append(s.dedupQ, dedupRef{id: d.ID, at: d.At})
		}
		for _, sc := range ss.Consumers {
			ccfg := &sp.ConsumerConfig{}
			if err := proto.Unmarshal(sc.Config, ccfg); err != nil {
				return fmt.Errorf("stream restore: %w", err)
			}
			c := &consumer{name: sc.Name, key: consumerKey(s.name, sc.Name), created: sc.Created, startSeq: sc.StartSeq, next: sc.Next, dseq: sc.DSeq,
				lastSeq: sc.LastSeq, lastAt: sc.LastAt, lastActive: sc.LastActive, durable: sc.Durable,
				numRedelivered: sc.NumRedelivered, numDropped: sc.NumDropped, pending: make(map[uint64]*pend, len(sc.Pending))}
			c.setConfig(ccfg)
			for _, p := range sc.Pending {
				c.pending[p.Seq] = &pend{cseq: p.CSeq, n: p.N, deadline: p.Deadline, waiting: p.Waiting}
				if p.Waiting {
					c.redeliver = append(c.redeliver, p.Seq)
				} else if p.N > 0 {
					c.deadlines = append(c.deadlines, deadline{at: p.Deadline, seq: p.Seq})
				}
			}
			heap.Init(&c.redeliver)
			heap.Init(&c.deadlines)
			s.consumers[c.name] = c
		}
		streams[s.name] = s
		idx.insert(s.name, s.filters)
	}
	m.mu.Lock()
	m.streams = streams
	m.subjIdx = idx
	m.ephSeq = st.EphSeq
	m.bySubject = map[string]*strm{}
	m.gen++
	m.mu.Unlock()
	m.notify.FireAll()
	return nil
}

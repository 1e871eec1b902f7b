package stream

import (
	"bufio"
	"container/heap"
	"encoding/gob"
	"fmt"
	"io"

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

const snapVersion = 1

// Snapshot copies the state (message bodies are immutable and shared) and
// returns the writer that encodes the copy.
func (m *Machine) Snapshot() (func(w io.Writer) error, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := snapState{Version: snapVersion, EphSeq: m.ephSeq}
	for _, name := range m.sortedNames() {
		s := m.streams[name]
		cfg, err := proto.Marshal(s.cfg)
		if err != nil {
			return nil, err
		}
		ss := snapStream{Config: cfg, Created: s.created, Base: s.base, Last: s.last, LastAt: s.lastAt, Msgs: make([]snapMsg, 0, s.count)}
		for seq := s.first; seq <= s.last; seq++ {
			e := s.slot(seq)
			if e == nil {
				continue
			}
			sm := snapMsg{Seq: seq, Subject: e.subject, Data: e.data, MsgID: e.msgID, At: e.at}
			for _, h := range e.hdrs {
				sm.Hdrs = append(sm.Hdrs, snapHdr{Key: h.GetKey(), Values: h.GetValues()})
			}
			ss.Msgs = append(ss.Msgs, sm)
		}
		for i := s.dedupH; i < len(s.dedupQ); i++ {
			r := s.dedupQ[i]
			if d, ok := s.dedup[r.id]; ok && d.at == r.at {
				ss.Dedup = append(ss.Dedup, snapDedup{ID: r.id, Seq: d.seq, At: d.at})
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
			ss.Consumers = append(ss.Consumers, sc)
		}
		st.Streams = append(st.Streams, ss)
	}
	return func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		if err := gob.NewEncoder(bw).Encode(&st); err != nil {
			return fmt.Errorf("stream snapshot: %w", err)
		}
		return bw.Flush()
	}, nil
}

// Restore replaces the whole state with a snapshot's; an empty reader means
// the empty state.
func (m *Machine) Restore(r io.Reader) error {
	var st snapState
	br := bufio.NewReaderSize(r, 64<<10)
	if _, err := br.Peek(1); err == io.EOF {
		st = snapState{Version: snapVersion}
	} else if err := gob.NewDecoder(br).Decode(&st); err != nil {
		return fmt.Errorf("stream restore: %w", err)
	}
	if st.Version != snapVersion {
		return fmt.Errorf("stream restore: unknown snapshot version %d", st.Version)
	}
	streams := map[string]*strm{}
	var idx subjectIndex
	for _, ss := range st.Streams {
		cfg := &sp.StreamConfig{}
		if err := proto.Unmarshal(ss.Config, cfg); err != nil {
			return fmt.Errorf("stream restore: %w", err)
		}
		s := newStrm(cfg, ss.Created)
		s.base, s.last, s.lastAt = ss.Base, ss.Last, ss.LastAt
		if len(ss.Msgs) > 0 {
			s.base = ss.Msgs[0].Seq
		} else {
			s.base = s.last + 1
		}
		s.first = s.last + 1
		for n := s.last + 1 - s.base; uint64(len(s.blocks))*blockSize < n; {
			s.blocks = append(s.blocks, make([]entry, blockSize))
		}
		for _, sm := range ss.Msgs {
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
		for _, d := range ss.Dedup {
			s.dedup[d.ID] = dedupEntry{seq: d.Seq, at: d.At}
			s.dedupQ = append(s.dedupQ, dedupRef{id: d.ID, at: d.At})
		}
		for _, sc := range ss.Consumers {
			ccfg := &sp.ConsumerConfig{}
			if err := proto.Unmarshal(sc.Config, ccfg); err != nil {
				return fmt.Errorf("stream restore: %w", err)
			}
			c := &consumer{name: sc.Name, created: sc.Created, startSeq: sc.StartSeq, next: sc.Next, dseq: sc.DSeq,
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

package stream

import (
	"encoding/binary"
	"errors"
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
)

// OpPublishRaw carries a batch of messages in a compact binary layout
// instead of a proto, so that apply decodes it without reflection and
// without one allocation per payload: the messages' data alias one copy of
// the command. It is the hot path of PublishBatch and PublishStream.
//
// Layout: uvarint count, then per message: flags byte, then the
// length-prefixed (uvarint) subject, data, msg_id and expected_stream,
// then what flags announce, in this order: uvarint expected_last_seq
// (flagLastSeq), uvarint expected_last_subject_seq (flagLastSubjectSeq),
// length-prefixed expected_last_msg_id (flagLastMsgID), and headers
// (flagHeaders: uvarint count, then per header a length-prefixed key,
// uvarint value count and length-prefixed values).
const OpPublishRaw uint16 = 14

const (
	flagLastSeq = 1 << iota
	flagLastSubjectSeq
	flagLastMsgID
	flagHeaders
)

// pubMsg is one message to publish, decoded from either encoding.
type pubMsg struct {
	subject, data, msgID, expStream []byte
	lastSeq, lastSubjectSeq         uint64
	lastMsgID                       []byte
	flags                           byte
	hdrs                            []*commonpb.Header
}

// EncodeBatch encodes msgs for OpPublishRaw.
func EncodeBatch(msgs []*sp.StreamPublishMessage) []byte {
	size := binary.MaxVarintLen32
	for _, m := range msgs {
		size += 1 + 4*binary.MaxVarintLen32 + len(m.GetSubject()) + len(m.GetData()) + len(m.GetMsgId()) + len(m.GetExpectedStream())
	}
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(msgs)))
	for _, m := range msgs {
		var flags byte
		if m.ExpectedLastSeq != nil {
			flags |= flagLastSeq
		}
		if m.ExpectedLastSubjectSeq != nil {
			flags |= flagLastSubjectSeq
		}
		if m.ExpectedLastMsgId != nil {
			flags |= flagLastMsgID
		}
		if len(m.GetHeaders()) > 0 {
			flags |= flagHeaders
		}
		b = append(b, flags)
		b = appendStr(b, m.GetSubject())
		b = binary.AppendUvarint(b, uint64(len(m.GetData())))
		b = append(b, m.GetData()...)
		b = appendStr(b, m.GetMsgId())
		b = appendStr(b, m.GetExpectedStream())
		if flags&flagLastSeq != 0 {
			b = binary.AppendUvarint(b, m.GetExpectedLastSeq())
		}
		if flags&flagLastSubjectSeq != 0 {
			b = binary.AppendUvarint(b, m.GetExpectedLastSubjectSeq())
		}
		if flags&flagLastMsgID != 0 {
			b = appendStr(b, m.GetExpectedLastMsgId())
		}
		if flags&flagHeaders != 0 {
			b = binary.AppendUvarint(b, uint64(len(m.GetHeaders())))
			for _, h := range m.GetHeaders() {
				b = appendStr(b, h.GetKey())
				b = binary.AppendUvarint(b, uint64(len(h.GetValues())))
				for _, v := range h.GetValues() {
					b = appendStr(b, v)
				}
			}
		}
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errShort = errors.New("stream: truncated publish batch")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte1() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errShort
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// decodeBatch decodes an OpPublishRaw payload. The payload is copied once
// (the log's buffer may not be kept) and every message aliases the copy.
func decodeBatch(payload []byte) ([]pubMsg, error) {
	r := &reader{b: append([]byte(nil), payload...)}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) { // every message takes 5+ bytes
		return nil, fmt.Errorf("stream: publish batch claims %d messages in %d bytes", n, len(r.b))
	}
	msgs := make([]pubMsg, n)
	for i := range msgs {
		m := &msgs[i]
		m.flags = r.byte1()
		m.subject, m.data, m.msgID, m.expStream = r.bytes(), r.bytes(), r.bytes(), r.bytes()
		if m.flags&flagLastSeq != 0 {
			m.lastSeq = r.uvarint()
		}
		if m.flags&flagLastSubjectSeq != 0 {
			m.lastSubjectSeq = r.uvarint()
		}
		if m.flags&flagLastMsgID != 0 {
			m.lastMsgID = r.bytes()
		}
		if m.flags&flagHeaders != 0 {
			nh := r.uvarint()
			if nh > uint64(len(r.b)) {
				r.err = errShort
			}
			for j := uint64(0); j < nh && r.err == nil; j++ {
				h := &commonpb.Header{Key: string(r.bytes())}
				nv := r.uvarint()
				if nv > uint64(len(r.b)) {
					r.err = errShort
				}
				for k := uint64(0); k < nv && r.err == nil; k++ {
					h.Values = append(h.Values, string(r.bytes()))
				}
				m.hdrs = append(m.hdrs, h)
			}
		}
		if r.err != nil {
			return nil, fmt.Errorf("%w (message %d)", r.err, i)
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("stream: %d trailing bytes after a publish batch", len(r.b))
	}
	return msgs, nil
}

// fromProto converts a proto message (the single-publish path).
func fromProto(p *sp.StreamPublishMessage) pubMsg {
	m := pubMsg{subject: []byte(p.GetSubject()), data: p.GetData(), msgID: []byte(p.GetMsgId()), expStream: []byte(p.GetExpectedStream()), hdrs: p.GetHeaders()}
	if p.ExpectedLastSeq != nil {
		m.flags |= flagLastSeq
		m.lastSeq = p.GetExpectedLastSeq()
	}
	if p.ExpectedLastSubjectSeq != nil {
		m.flags |= flagLastSubjectSeq
		m.lastSubjectSeq = p.GetExpectedLastSubjectSeq()
	}
	if p.ExpectedLastMsgId != nil {
		m.flags |= flagLastMsgID
		m.lastMsgID = []byte(p.GetExpectedLastMsgId())
	}
	return m
}

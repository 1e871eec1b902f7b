package stream

import (
	"sort"

	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Reads answer from the applied state under the read lock. On the single
// raft voter that state includes every acknowledged write.

// StreamInfo answers GetStream.
func (m *Machine) StreamInfo(name string) *sp.StreamServiceGetStreamResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.streams[name]
	if !ok {
		return &sp.StreamServiceGetStreamResponse{Result: result.Failf(result.CodeNotFound, "stream: %q not found", name)}
	}
	return &sp.StreamServiceGetStreamResponse{Result: result.OK(), Info: s.info()}
}

// ListStreams answers one page of streams in name order, after the page
// token (the last name of the previous page); subject filters by binding.
func (m *Machine) ListStreams(after string, size int, subject string) ([]*sp.StreamInfo, string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := m.sortedNames()
	i := sort.SearchStrings(names, after)
	if i < len(names) && names[i] == after {
		i++
	}
	var bound map[string]bool
	if subject != "" {
		bound = map[string]bool{}
		m.subjIdx.overlaps(subject, func(o sxOwner) bool { bound[o.name] = true; return true })
	}
	var out []*sp.StreamInfo
	for ; i < len(names); i++ {
		s := m.streams[names[i]]
		if subject != "" && !bound[s.name] {
			continue
		}
		if len(out) == size {
			return out, out[len(out)-1].GetConfig().GetName()
		}
		out = append(out, s.info())
	}
	return out, ""
}

// GetMsg answers the stored message at seq.
func (m *Machine) GetMsg(stream string, seq uint64) *sp.StreamServiceGetMsgResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.streams[stream]
	if !ok {
		return &sp.StreamServiceGetMsgResponse{Result: result.Failf(result.CodeNotFound, "stream: %q not found", stream)}
	}
	e := s.slot(seq)
	if e == nil {
		return &sp.StreamServiceGetMsgResponse{Result: result.Failf(result.CodeNotFound, "seq: stream %q has no message at %d", stream, seq)}
	}
	return &sp.StreamServiceGetMsgResponse{Result: result.OK(), Msg: s.msg(seq, e)}
}

// GetLastMsgForSubject answers a subject's newest stored message.
func (m *Machine) GetLastMsgForSubject(stream, subject string) *sp.StreamServiceGetLastMsgForSubjectResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.streams[stream]
	if !ok {
		return &sp.StreamServiceGetLastMsgForSubjectResponse{Result: result.Failf(result.CodeNotFound, "stream: %q not found", stream)}
	}
	st := s.subjects[subject]
	if st == nil {
		return &sp.StreamServiceGetLastMsgForSubjectResponse{Result: result.Failf(result.CodeNotFound, "subject: stream %q has no message on %q", stream, subject)}
	}
	return &sp.StreamServiceGetLastMsgForSubjectResponse{Result: result.OK(), Msg: s.msg(st.last, s.slot(st.last))}
}

// ConsumerInfo answers GetConsumer.
func (m *Machine) ConsumerInfo(stream, name string) *sp.StreamServiceGetConsumerResponse {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, c, r := m.consumerOf(stream, name)
	if r != nil {
		return &sp.StreamServiceGetConsumerResponse{Result: r}
	}
	return &sp.StreamServiceGetConsumerResponse{Result: result.OK(), Info: s.consumerInfo(c)}
}

// ListConsumers answers one page of a stream's consumers in name order.
func (m *Machine) ListConsumers(stream, after string, size int) ([]*sp.ConsumerInfo, string, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.streams[stream]
	if !ok {
		return nil, "", false
	}
	names := s.sortedConsumers()
	i := sort.SearchStrings(names, after)
	if i < len(names) && names[i] == after {
		i++
	}
	var out []*sp.ConsumerInfo
	for ; i < len(names); i++ {
		if len(out) == size {
			return out, out[len(out)-1].GetName(), true
		}
		out = append(out, s.consumerInfo(s.consumers[names[i]]))
	}
	return out, "", true
}

// Work reports whether a consumer exists and whether a deliver command
// would hand it something now.
func (m *Machine) Work(stream, name string) (exists, work bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, c, r := m.consumerOf(stream, name)
	if r != nil {
		return false, false
	}
	return true, s.hasWork(c)
}

// Ephemeral reports whether a consumer exists and is ephemeral, with its
// inactivity threshold.
func (m *Machine) Ephemeral(stream, name string) (bool, int64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, c, r := m.consumerOf(stream, name)
	if r != nil || c.durable {
		return false, 0
	}
	return true, c.cfg.GetInactiveThresholdMs()
}

package stream

import (
	"context"
	"sync"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Stream is a handle on one stream. It is safe for concurrent use.
type Stream struct {
	c    *Client
	name string
	info *Info // as last answered by the server; nil for a bare handle

	asyncOnce sync.Once
	async     *asyncPublisher
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// CachedInfo returns the info the handle was created with (nil for a handle
// from Client.Stream); Info asks the server.
func (s *Stream) CachedInfo() *Info { return s.info }

// Info asks the server for the stream's configuration and state.
func (s *Stream) Info(ctx context.Context) (*Info, error) {
	p, err := s.c.info(ctx, s.name)
	if err != nil {
		return nil, err
	}
	return infoFrom(p), nil
}

// Purge removes messages (all of them, unless narrowed by opts) and
// returns how many it removed.
func (s *Stream) Purge(ctx context.Context, opts ...PurgeOption) (uint64, error) {
	var o purgeOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyPurge(&o)
		}
	}
	req := &streampb.StreamServicePurgeRequest{RequestId: transport.NewRequestID(), Stream: s.name, Subject: o.subject, Keep: o.keep, Seq: o.seq}
	if req.Subject != "" {
		if err := checkSubject("PurgeSubject", req.Subject, true); err != nil {
			return 0, err
		}
	}
	if req.Seq != 0 && req.Keep != 0 {
		return 0, transport.Invalid("PurgeKeep", "cannot be combined with PurgeBelow")
	}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServicePurgeResponse, error) {
		return s.c.rpc.Purge(ctx, req)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetPurged(), nil
}

// StoredMsg is a message read from the stream by GetMsg or
// GetLastMsgForSubject.
type StoredMsg struct {
	Subject  string
	Payload  []byte
	Headers  Header
	Sequence uint64
	Time     time.Time
	MsgID    string
}

func storedFrom(m *streampb.StreamMsg) *StoredMsg {
	return &StoredMsg{Subject: m.GetSubject(), Payload: m.GetData(), Headers: headerFrom(m.GetHeaders()),
		Sequence: m.GetStreamSeq(), Time: msTime(m.GetStoredAtMs()), MsgID: m.GetMsgId()}
}

// GetMsg reads the message stored at seq, or ErrNotFound.
func (s *Stream) GetMsg(ctx context.Context, seq uint64) (*StoredMsg, error) {
	if seq == 0 {
		return nil, transport.Invalid("seq", "must be positive")
	}
	req := &streampb.StreamServiceGetMsgRequest{Stream: s.name, Seq: seq}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceGetMsgResponse, error) {
		return s.c.rpc.GetMsg(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return storedFrom(resp.GetMsg()), nil
}

// GetLastMsgForSubject reads the newest message stored on subject (no
// wildcards), or ErrNotFound.
func (s *Stream) GetLastMsgForSubject(ctx context.Context, subject string) (*StoredMsg, error) {
	if err := checkSubject("subject", subject, false); err != nil {
		return nil, err
	}
	req := &streampb.StreamServiceGetLastMsgForSubjectRequest{Stream: s.name, Subject: subject}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceGetLastMsgForSubjectResponse, error) {
		return s.c.rpc.GetLastMsgForSubject(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return storedFrom(resp.GetMsg()), nil
}

// DeleteMsg removes the message stored at seq, or answers ErrNotFound.
func (s *Stream) DeleteMsg(ctx context.Context, seq uint64) error {
	if seq == 0 {
		return transport.Invalid("seq", "must be positive")
	}
	req := &streampb.StreamServiceDeleteMsgRequest{RequestId: transport.NewRequestID(), Stream: s.name, Seq: seq}
	_, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceDeleteMsgResponse, error) {
		return s.c.rpc.DeleteMsg(ctx, req)
	})
	return err
}

// Header is a message's headers: names to values, like http.Header but
// case-sensitive.
type Header map[string][]string

func (h Header) proto() []*commonpb.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]*commonpb.Header, 0, len(h))
	for k, v := range h {
		out = append(out, &commonpb.Header{Key: k, Values: v})
	}
	return out
}

func headerFrom(p []*commonpb.Header) Header {
	if len(p) == 0 {
		return nil
	}
	h := make(Header, len(p))
	for _, x := range p {
		h[x.GetKey()] = append(h[x.GetKey()], x.GetValues()...)
	}
	return h
}

package stream

import (
	"fmt"
	"strings"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// RetentionPolicy says when a stream removes stored messages.
type RetentionPolicy int

const (
	// RetentionLimits keeps messages until a limit (MaxMsgs, MaxBytes,
	// MaxAge, MaxMsgsPerSubject) removes them. The default.
	RetentionLimits RetentionPolicy = iota
	// RetentionInterest removes a message once every consumer interested in
	// it (filter matches, created before it) has acked it; limits still apply.
	RetentionInterest
	// RetentionWorkQueue delivers each message to one consumer and removes
	// it when acked; consumer filters may not overlap.
	RetentionWorkQueue
)

func (r RetentionPolicy) String() string {
	switch r {
	case RetentionLimits:
		return "limits"
	case RetentionInterest:
		return "interest"
	case RetentionWorkQueue:
		return "workqueue"
	}
	return fmt.Sprintf("RetentionPolicy(%d)", int(r))
}

// DiscardPolicy says what a full stream does with a new message.
type DiscardPolicy int

const (
	// DiscardOld removes the oldest messages to make room. The default.
	DiscardOld DiscardPolicy = iota
	// DiscardNew refuses the new message with "limit_exceeded".
	DiscardNew
)

// Config configures a stream. Zero values take the documented defaults.
type Config struct {
	// Name is required: letters, digits, '_' and '-'.
	Name string
	// Description is free-form.
	Description string
	// Subjects the stream binds; '*' matches one token and '>' the rest.
	// Empty binds Name and Name.> (so stream "events" stores "events.user.1").
	Subjects []string
	// Retention says when messages are removed; default RetentionLimits.
	Retention RetentionPolicy
	// MaxMsgs, MaxBytes, MaxAge and MaxMsgsPerSubject bound what is kept;
	// 0 means unbounded.
	MaxMsgs           int64
	MaxBytes          int64
	MaxAge            time.Duration
	MaxMsgsPerSubject int64
	// MaxMsgSize bounds one message (subject, headers, data); 0 takes the
	// server default, 1 MiB.
	MaxMsgSize int64
	// Discard says what a full stream does with a new message (MaxMsgs,
	// MaxBytes). MaxMsgsPerSubject always discards the subject's oldest.
	Discard DiscardPolicy
	// DuplicateWindow is how long publish msg ids are remembered; 0 takes
	// the default, 2 minutes.
	DuplicateWindow time.Duration
	// MaxConsumers bounds the consumers; 0 means unbounded.
	MaxConsumers int
}

func (c Config) validate() error {
	if err := checkName("Name", c.Name); err != nil {
		return err
	}
	for i, s := range c.Subjects {
		if err := checkSubject(fmt.Sprintf("Subjects[%d]", i), s, true); err != nil {
			return err
		}
	}
	if c.Retention < RetentionLimits || c.Retention > RetentionWorkQueue {
		return transport.Invalid("Retention", "unknown retention policy %d", int(c.Retention))
	}
	if c.Discard < DiscardOld || c.Discard > DiscardNew {
		return transport.Invalid("Discard", "unknown discard policy %d", int(c.Discard))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxMsgs", c.MaxMsgs}, {"MaxBytes", c.MaxBytes}, {"MaxAge", int64(c.MaxAge)},
		{"MaxMsgsPerSubject", c.MaxMsgsPerSubject}, {"MaxMsgSize", c.MaxMsgSize},
		{"DuplicateWindow", int64(c.DuplicateWindow)}, {"MaxConsumers", int64(c.MaxConsumers)},
	} {
		if f.v < 0 {
			return transport.Invalid(f.name, "must not be negative, got %d", f.v)
		}
	}
	return nil
}

func (c Config) proto() *streampb.StreamConfig {
	return &streampb.StreamConfig{
		Name: c.Name, Description: c.Description, Subjects: c.Subjects,
		Retention:         streampb.StreamRetention(c.Retention + 1),
		MaxMsgs:           c.MaxMsgs,
		MaxBytes:          c.MaxBytes,
		MaxAgeMs:          c.MaxAge.Milliseconds(),
		MaxMsgSize:        c.MaxMsgSize,
		MaxMsgsPerSubject: c.MaxMsgsPerSubject,
		Discard:           streampb.StreamDiscard(c.Discard + 1),
		DuplicateWindowMs: c.DuplicateWindow.Milliseconds(),
		MaxConsumers:      int32(c.MaxConsumers),
	}
}

func configFrom(p *streampb.StreamConfig) Config {
	c := Config{
		Name: p.GetName(), Description: p.GetDescription(), Subjects: p.GetSubjects(),
		MaxMsgs: p.GetMaxMsgs(), MaxBytes: p.GetMaxBytes(), MaxAge: time.Duration(p.GetMaxAgeMs()) * time.Millisecond,
		MaxMsgSize: p.GetMaxMsgSize(), MaxMsgsPerSubject: p.GetMaxMsgsPerSubject(),
		DuplicateWindow: time.Duration(p.GetDuplicateWindowMs()) * time.Millisecond, MaxConsumers: int(p.GetMaxConsumers()),
	}
	if r := p.GetRetention(); r > 0 {
		c.Retention = RetentionPolicy(r - 1)
	}
	if d := p.GetDiscard(); d > 0 {
		c.Discard = DiscardPolicy(d - 1)
	}
	return c
}

// Info is a stream's configuration (defaults filled in) and state.
type Info struct {
	Config  Config
	State   State
	Created time.Time
}

// State is a stream's contents.
type State struct {
	Msgs          int64
	Bytes         int64
	FirstSeq      uint64
	FirstTime     time.Time
	LastSeq       uint64
	LastTime      time.Time
	NumSubjects   int64
	NumDeleted    int64
	ConsumerCount int
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func infoFrom(p *streampb.StreamInfo) *Info {
	s := p.GetState()
	return &Info{
		Config:  configFrom(p.GetConfig()),
		Created: msTime(p.GetCreatedAtMs()),
		State: State{
			Msgs: s.GetMsgs(), Bytes: s.GetBytes(), FirstSeq: s.GetFirstSeq(), FirstTime: msTime(s.GetFirstAtMs()),
			LastSeq: s.GetLastSeq(), LastTime: msTime(s.GetLastAtMs()), NumSubjects: s.GetNumSubjects(),
			NumDeleted: s.GetNumDeleted(), ConsumerCount: int(s.GetConsumerCount()),
		},
	}
}

func checkName(field, s string) error {
	return transport.CheckName(field, s)
}

// checkSubject validates a subject: dot-separated non-empty tokens; with
// filter, '*' tokens and a final '>' token are allowed. It allocates only
// when it fails: it runs on every publish.
func checkSubject(field, s string, filter bool) error {
	if s == "" {
		return transport.Invalid(field, "must not be empty")
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if c <= ' ' || c == 0x7f {
				return transport.Invalid(field, "%q contains spaces or control characters", s)
			}
			if c != '.' {
				continue
			}
		}
		tok := s[start:i]
		if tok == "" {
			return transport.Invalid(field, "%q has an empty token (leading, trailing or doubled '.')", s)
		}
		if strings.ContainsAny(tok, "*>") {
			if !filter {
				return transport.Invalid(field, "%q: wildcards ('*', '>') are not allowed in a publish subject", s)
			}
			if len(tok) != 1 {
				return transport.Invalid(field, "%q: a wildcard must be a whole token", s)
			}
			if tok == ">" && i != len(s) {
				return transport.Invalid(field, "%q: '>' must be the last token", s)
			}
		}
		start = i + 1
	}
	return nil
}

package stream

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// DeliverPolicy says where a new consumer starts.
type DeliverPolicy int

const (
	// DeliverAll starts at the first stored message. The default.
	DeliverAll DeliverPolicy = iota
	// DeliverLast starts at the last stored message (matching the filter).
	DeliverLast
	// DeliverNew delivers only messages stored after the consumer is created.
	DeliverNew
	// DeliverByStartSeq starts at OptStartSeq (required).
	DeliverByStartSeq
	// DeliverByStartTime starts at the first message stored at or after
	// OptStartTime (required).
	DeliverByStartTime
	// DeliverLastPerSubject delivers the last message of every matching
	// subject, then new ones.
	DeliverLastPerSubject
)

// AckPolicy says which acks a consumer requires.
type AckPolicy int

const (
	// AckExplicit requires every message to be acked. The default.
	AckExplicit AckPolicy = iota
	// AckAll: acking a message acks every earlier pending one.
	AckAll
	// AckNone: a message counts as acked when delivered.
	AckNone
)

// ConsumerConfig configures a consumer. Zero values take the defaults.
type ConsumerConfig struct {
	// DurableName names a durable consumer, whose position and pending acks
	// survive reconnects and server restarts. Empty makes an ephemeral
	// consumer with a server-made name, removed after InactiveThreshold
	// without a Messages stream or Fetch.
	DurableName string
	Description string
	// DeliverPolicy says where the consumer starts; default DeliverAll.
	DeliverPolicy DeliverPolicy
	// OptStartSeq is the first sequence for DeliverByStartSeq.
	OptStartSeq uint64
	// OptStartTime is the first store time for DeliverByStartTime.
	OptStartTime time.Time
	// AckPolicy says which acks are required; default AckExplicit.
	AckPolicy AckPolicy
	// AckWait is how long a delivered message may stay unacked before it is
	// delivered again; default 30s.
	AckWait time.Duration
	// MaxDeliver bounds the delivery attempts of a message; after the last
	// one it is dropped from delivery (counted in ConsumerInfo.NumDropped).
	// 0 means unbounded.
	MaxDeliver int
	// Backoff replaces AckWait per attempt: after delivery n the wait is
	// Backoff[n-1] (the last entry repeats).
	Backoff []time.Duration
	// FilterSubjects restricts delivery to matching subjects (wildcards
	// allowed); empty means all.
	FilterSubjects []string
	// MaxAckPending bounds delivered-but-unacked messages; default 1000.
	MaxAckPending int
	// InactiveThreshold is how long an ephemeral consumer may be idle
	// before the server removes it; default 5s.
	InactiveThreshold time.Duration
}

func (c ConsumerConfig) validate() error {
	if c.DurableName != "" {
		if err := checkName("DurableName", c.DurableName); err != nil {
			return err
		}
	}
	if c.DeliverPolicy < DeliverAll || c.DeliverPolicy > DeliverLastPerSubject {
		return transport.Invalid("DeliverPolicy", "unknown deliver policy %d", int(c.DeliverPolicy))
	}
	if c.DeliverPolicy == DeliverByStartSeq && c.OptStartSeq == 0 {
		return transport.Invalid("OptStartSeq", "is required (> 0) with DeliverByStartSeq")
	}
	if c.DeliverPolicy != DeliverByStartSeq && c.OptStartSeq != 0 {
		return transport.Invalid("OptStartSeq", "is only allowed with DeliverByStartSeq")
	}
	if c.DeliverPolicy == DeliverByStartTime && c.OptStartTime.IsZero() {
		return transport.Invalid("OptStartTime", "is required with DeliverByStartTime")
	}
	if c.DeliverPolicy != DeliverByStartTime && !c.OptStartTime.IsZero() {
		return transport.Invalid("OptStartTime", "is only allowed with DeliverByStartTime")
	}
	if c.AckPolicy < AckExplicit || c.AckPolicy > AckNone {
		return transport.Invalid("AckPolicy", "unknown ack policy %d", int(c.AckPolicy))
	}
	if c.AckWait < 0 {
		return transport.Invalid("AckWait", "must not be negative")
	}
	if c.MaxDeliver < 0 {
		return transport.Invalid("MaxDeliver", "must not be negative")
	}
	for i, b := range c.Backoff {
		if b < time.Millisecond {
			return transport.Invalid(fmt.Sprintf("Backoff[%d]", i), "must be at least 1ms")
		}
	}
	for i, f := range c.FilterSubjects {
		if err := checkSubject(fmt.Sprintf("FilterSubjects[%d]", i), f, true); err != nil {
			return err
		}
	}
	if c.MaxAckPending < 0 {
		return transport.Invalid("MaxAckPending", "must not be negative")
	}
	if c.InactiveThreshold < 0 {
		return transport.Invalid("InactiveThreshold", "must not be negative")
	}
	return nil
}

func (c ConsumerConfig) proto() *streampb.ConsumerConfig {
	p := &streampb.ConsumerConfig{
		DurableName: c.DurableName, Description: c.Description,
		DeliverPolicy:       streampb.ConsumerDeliverPolicy(c.DeliverPolicy + 1),
		OptStartSeq:         c.OptStartSeq,
		AckPolicy:           streampb.ConsumerAckPolicy(c.AckPolicy + 1),
		AckWaitMs:           c.AckWait.Milliseconds(),
		MaxDeliver:          int32(c.MaxDeliver),
		FilterSubjects:      c.FilterSubjects,
		MaxAckPending:       int32(c.MaxAckPending),
		InactiveThresholdMs: c.InactiveThreshold.Milliseconds(),
	}
	if !c.OptStartTime.IsZero() {
		p.OptStartAtMs = c.OptStartTime.UnixMilli()
	}
	for _, b := range c.Backoff {
		p.BackoffMs = append(p.BackoffMs, b.Milliseconds())
	}
	return p
}

func consumerConfigFrom(p *streampb.ConsumerConfig) ConsumerConfig {
	c := ConsumerConfig{
		DurableName: p.GetDurableName(), Description: p.GetDescription(), OptStartSeq: p.GetOptStartSeq(),
		OptStartTime: msTime(p.GetOptStartAtMs()), AckWait: time.Duration(p.GetAckWaitMs()) * time.Millisecond,
		MaxDeliver: int(p.GetMaxDeliver()), FilterSubjects: p.GetFilterSubjects(), MaxAckPending: int(p.GetMaxAckPending()),
		InactiveThreshold: time.Duration(p.GetInactiveThresholdMs()) * time.Millisecond,
	}
	if d := p.GetDeliverPolicy(); d > 0 {
		c.DeliverPolicy = DeliverPolicy(d - 1)
	}
	if a := p.GetAckPolicy(); a > 0 {
		c.AckPolicy = AckPolicy(a - 1)
	}
	for _, b := range p.GetBackoffMs() {
		c.Backoff = append(c.Backoff, time.Duration(b)*time.Millisecond)
	}
	return c
}

// ConsumerInfo is a consumer's configuration and state.
type ConsumerInfo struct {
	Stream string
	Name   string
	Config ConsumerConfig
	// Delivered is the last delivery: consumer and stream sequence.
	Delivered SequencePair
	// AckFloor: every message at or below it is settled.
	AckFloor SequencePair
	// NumPending is matching messages not yet delivered.
	NumPending uint64
	// NumAckPending is delivered messages awaiting an ack.
	NumAckPending int64
	// NumRedelivered counts redeliveries.
	NumRedelivered int64
	// NumDropped counts messages dropped after MaxDeliver attempts.
	NumDropped int64
	Created    time.Time
}

// SequencePair is a consumer position.
type SequencePair struct {
	Consumer uint64
	Stream   uint64
}

func consumerInfoFrom(p *streampb.ConsumerInfo) *ConsumerInfo {
	return &ConsumerInfo{
		Stream: p.GetStream(), Name: p.GetName(), Config: consumerConfigFrom(p.GetConfig()),
		Delivered:     SequencePair{Consumer: p.GetDelivered().GetConsumerSeq(), Stream: p.GetDelivered().GetStreamSeq()},
		AckFloor:      SequencePair{Consumer: p.GetAckFloor().GetConsumerSeq(), Stream: p.GetAckFloor().GetStreamSeq()},
		NumPending:    p.GetNumPending(),
		NumAckPending: p.GetNumAckPending(), NumRedelivered: p.GetNumRedelivered(), NumDropped: p.GetNumDroppedMaxDeliver(),
		Created: msTime(p.GetCreatedAtMs()),
	}
}

// Consumer is a handle on one consumer of a stream. It is safe for
// concurrent use.
type Consumer struct {
	s    *Stream
	name string
}

// Name returns the consumer's name (its durable name, or the server-made
// name of an ephemeral consumer).
func (c *Consumer) Name() string { return c.name }

// Stream returns the consumer's stream.
func (c *Consumer) Stream() *Stream { return c.s }

// CreateConsumer makes a consumer. For a durable, an identical existing
// configuration succeeds and a different one fails with ErrExists; on a
// work-queue stream, a filter overlapping another consumer's fails with
// ErrConflict.
func (s *Stream) CreateConsumer(ctx context.Context, cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	req := &streampb.StreamServiceCreateConsumerRequest{RequestId: transport.NewRequestID(), Stream: s.name, Config: cfg.proto()}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceCreateConsumerResponse, error) {
		return s.c.rpc.CreateConsumer(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return &Consumer{s: s, name: resp.GetInfo().GetName()}, nil
}

// GetOrCreateConsumer returns the durable consumer cfg.DurableName,
// creating it with cfg when it does not exist; with no DurableName it
// creates an ephemeral consumer.
func (s *Stream) GetOrCreateConsumer(ctx context.Context, cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.DurableName == "" {
		return s.CreateConsumer(ctx, cfg)
	}
	c, err := s.GetConsumer(ctx, cfg.DurableName)
	if err == nil || !errors.Is(err, transport.ErrNotFound) {
		return c, err
	}
	c, err = s.CreateConsumer(ctx, cfg)
	if errors.Is(err, transport.ErrExists) {
		return s.GetConsumer(ctx, cfg.DurableName)
	}
	return c, err
}

// UpdateConsumer changes a durable consumer's mutable settings (AckWait,
// MaxDeliver, Backoff, FilterSubjects, MaxAckPending, Description); its
// position is kept.
func (s *Stream) UpdateConsumer(ctx context.Context, cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.DurableName == "" {
		return nil, transport.Invalid("DurableName", "is required to update a consumer")
	}
	req := &streampb.StreamServiceUpdateConsumerRequest{RequestId: transport.NewRequestID(), Stream: s.name, Config: cfg.proto()}
	resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceUpdateConsumerResponse, error) {
		return s.c.rpc.UpdateConsumer(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return &Consumer{s: s, name: resp.GetInfo().GetName()}, nil
}

// Consumer returns a handle on the named consumer without touching the
// network; its calls fail with ErrNotFound if it does not exist.
func (s *Stream) Consumer(name string) *Consumer { return &Consumer{s: s, name: name} }

// GetConsumer returns the named consumer, or ErrNotFound.
func (s *Stream) GetConsumer(ctx context.Context, name string) (*Consumer, error) {
	c := s.Consumer(name)
	if _, err := c.Info(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteConsumer removes a consumer; its Messages iterators end with
// ErrNotFound.
func (s *Stream) DeleteConsumer(ctx context.Context, name string) error {
	if err := checkName("name", name); err != nil {
		return err
	}
	req := &streampb.StreamServiceDeleteConsumerRequest{RequestId: transport.NewRequestID(), Stream: s.name, Consumer: name}
	_, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceDeleteConsumerResponse, error) {
		return s.c.rpc.DeleteConsumer(ctx, req)
	})
	return err
}

// ListConsumers ranges over the stream's consumers in name order, fetching
// a page at a time; it stops at the first error, which it yields once,
// last (see transport.Pages).
func (s *Stream) ListConsumers(ctx context.Context) iter.Seq2[*ConsumerInfo, error] {
	return transport.Pages(ctx, func(ctx context.Context, token string) ([]*ConsumerInfo, string, error) {
		req := &streampb.StreamServiceListConsumersRequest{Stream: s.name, PageToken: token}
		resp, err := transport.Call(ctx, s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceListConsumersResponse, error) {
			return s.c.rpc.ListConsumers(ctx, req)
		})
		if err != nil {
			return nil, "", err
		}
		return transport.Map(resp.GetConsumers(), consumerInfoFrom), resp.GetNextPageToken(), nil
	})
}

// Info asks the server for the consumer's configuration and state.
func (c *Consumer) Info(ctx context.Context) (*ConsumerInfo, error) {
	if err := checkName("consumer", c.name); err != nil {
		return nil, err
	}
	req := &streampb.StreamServiceGetConsumerRequest{Stream: c.s.name, Consumer: c.name}
	resp, err := transport.Call(ctx, c.s.c.conn, transport.Idempotent, func(ctx context.Context) (*streampb.StreamServiceGetConsumerResponse, error) {
		return c.s.c.rpc.GetConsumer(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return consumerInfoFrom(resp.GetInfo()), nil
}

// Delete removes the consumer.
func (c *Consumer) Delete(ctx context.Context) error { return c.s.DeleteConsumer(ctx, c.name) }

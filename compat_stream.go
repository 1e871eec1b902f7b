package waymaker

import (
	"context"
	"iter"

	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// Stream types, re-exported so the published waymaker.X names keep working.
type (
	// StreamConfig configures a stream; see stream.Config.
	StreamConfig = stream.Config
	// StreamInfo is a stream's configuration and state.
	StreamInfo = stream.Info
	// Stream is a handle on one stream.
	Stream = stream.Stream
	// RetentionPolicy says when a stream removes messages.
	RetentionPolicy = stream.RetentionPolicy
	// DiscardPolicy says what a full stream does with a new message.
	DiscardPolicy = stream.DiscardPolicy
	// ConsumerConfig configures a consumer; see stream.ConsumerConfig.
	ConsumerConfig = stream.ConsumerConfig
	// ConsumerInfo is a consumer's configuration and state.
	ConsumerInfo = stream.ConsumerInfo
	// Consumer is a handle on one consumer.
	Consumer = stream.Consumer
	// DeliverPolicy says where a new consumer starts.
	DeliverPolicy = stream.DeliverPolicy
	// AckPolicy says which acks a consumer requires.
	AckPolicy = stream.AckPolicy
	// Msg is a delivered message.
	Msg = stream.Msg
	// PubAck acknowledges a published message.
	PubAck = stream.PubAck
	// PubAckFuture is the pending ack of a PublishAsync.
	PubAckFuture = stream.PubAckFuture
	// Messages is a push delivery iterator.
	Messages = stream.Messages
)

// Retention, discard, deliver and ack policies.
const (
	RetentionLimits    = stream.RetentionLimits
	RetentionInterest  = stream.RetentionInterest
	RetentionWorkQueue = stream.RetentionWorkQueue

	DiscardOld = stream.DiscardOld
	DiscardNew = stream.DiscardNew

	DeliverAll            = stream.DeliverAll
	DeliverLast           = stream.DeliverLast
	DeliverNew            = stream.DeliverNew
	DeliverByStartSeq     = stream.DeliverByStartSeq
	DeliverByStartTime    = stream.DeliverByStartTime
	DeliverLastPerSubject = stream.DeliverLastPerSubject

	AckExplicit = stream.AckExplicit
	AckAll      = stream.AckAll
	AckNone     = stream.AckNone
)

// CreateStream makes a stream; see stream.Client.Create.
func (c *Client) CreateStream(ctx context.Context, cfg StreamConfig) (*Stream, error) {
	return c.streams.Create(ctx, cfg)
}

// GetStream returns the named stream, or ErrNotFound.
func (c *Client) GetStream(ctx context.Context, name string) (*Stream, error) {
	return c.streams.Get(ctx, name)
}

// GetOrCreateStream returns the stream named cfg.Name, creating it if needed.
func (c *Client) GetOrCreateStream(ctx context.Context, cfg StreamConfig) (*Stream, error) {
	return c.streams.GetOrCreate(ctx, cfg)
}

// UpdateStream changes a stream's configuration.
func (c *Client) UpdateStream(ctx context.Context, cfg StreamConfig) (*Stream, error) {
	return c.streams.Update(ctx, cfg)
}

// DeleteStream removes a stream, its messages and its consumers.
func (c *Client) DeleteStream(ctx context.Context, name string) error {
	return c.streams.Delete(ctx, name)
}

// ListStreams ranges over every stream in name order.
func (c *Client) ListStreams(ctx context.Context) iter.Seq2[*StreamInfo, error] {
	return c.streams.List(ctx)
}

// StreamNames returns every stream's name, in order.
func (c *Client) StreamNames(ctx context.Context) ([]string, error) {
	return collectNames(c.streams.List(ctx), func(i *StreamInfo) string { return i.Config.Name })
}

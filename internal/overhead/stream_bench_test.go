package overhead

import (
	"context"

	"google.golang.org/grpc"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// overheadStream answers Publish, PublishBatch, Fetch and Ack with fixed
// successes.
type overheadStream struct {
	streampb.UnimplementedStreamServiceServer
	msgs []*streampb.StreamMsg
}

func (s *overheadStream) Publish(context.Context, *streampb.StreamServicePublishRequest) (*streampb.StreamServicePublishResponse, error) {
	return &streampb.StreamServicePublishResponse{Result: okResult, Stream: "s", Seq: 9}, nil
}

func (s *overheadStream) PublishBatch(_ context.Context, req *streampb.StreamServicePublishBatchRequest) (*streampb.StreamServicePublishBatchResponse, error) {
	acks := make([]*streampb.StreamPubAck, len(req.GetMessages()))
	for i := range acks {
		acks[i] = &streampb.StreamPubAck{Result: okResult, Stream: "s", Seq: uint64(i + 1)}
	}
	return &streampb.StreamServicePublishBatchResponse{Result: okResult, Acks: acks}, nil
}

func (s *overheadStream) Fetch(context.Context, *streampb.StreamServiceFetchRequest) (*streampb.StreamServiceFetchResponse, error) {
	return &streampb.StreamServiceFetchResponse{Result: okResult, Msgs: s.msgs}, nil
}

func (s *overheadStream) Ack(context.Context, *streampb.StreamServiceAckRequest) (*streampb.StreamServiceAckResponse, error) {
	return &streampb.StreamServiceAckResponse{Result: okResult, Results: []*commonpb.Result{okResult}}, nil
}

func serveStream(s grpc.ServiceRegistrar) {
	fetched := make([]*streampb.StreamMsg, 10)
	for i := range fetched {
		fetched[i] = &streampb.StreamMsg{Stream: "s", Subject: "s.x", Data: []byte("message-of-16-by"), StreamSeq: uint64(i + 1), Consumer: "c", NumDelivered: 1}
	}
	streampb.RegisterStreamServiceServer(s, &overheadStream{msgs: fetched})
}

func streamPairs(f *fixture) []pair {
	rpc := streampb.NewStreamServiceClient(f.conn)
	s := stream.New(f.conn).Stream("s")
	c := s.Consumer("c")
	data := []byte("message-of-16-by")
	batch := make([]stream.Message, 100)
	for i := range batch {
		batch[i] = stream.Message{Subject: "s.x", Data: data}
	}
	var msg *stream.Msg // fetched on first use, to ack
	return []pair{
		{
			// AckSync: the confirmed ack does the raw call's work (Ack only
			// hands the ack over, and refuses a message acked before).
			name: "stream.Msg.AckSync",
			raw: func(ctx context.Context) error {
				_, err := rpc.Ack(ctx, &streampb.StreamServiceAckRequest{Stream: "s", Consumer: "c", Items: []*streampb.StreamAckItem{{StreamSeq: 1, NumDelivered: 1, Kind: streampb.StreamAckKind_STREAM_ACK_KIND_ACK}}})
				return err
			},
			wrapper: func(ctx context.Context) error {
				if msg == nil {
					msgs, err := c.Fetch(ctx, 1, 0)
					if err != nil {
						return err
					}
					msg = msgs[0]
				}
				return msg.AckSync(ctx)
			},
		},
		{
			name: "stream.Publish",
			raw: func(ctx context.Context) error {
				_, err := rpc.Publish(ctx, &streampb.StreamServicePublishRequest{Message: &streampb.StreamPublishMessage{Subject: "s.x", Data: data, ExpectedStream: "s"}})
				return err
			},
			wrapper: func(ctx context.Context) error {
				_, err := s.Publish(ctx, "s.x", data)
				return err
			},
		},
		{
			name: "stream.PublishBatch(100)",
			raw: func(ctx context.Context) error {
				msgs := make([]*streampb.StreamPublishMessage, len(batch))
				for i, m := range batch {
					msgs[i] = &streampb.StreamPublishMessage{Subject: m.Subject, Data: m.Data, ExpectedStream: "s"}
				}
				_, err := rpc.PublishBatch(ctx, &streampb.StreamServicePublishBatchRequest{Messages: msgs})
				return err
			},
			wrapper: func(ctx context.Context) error {
				_, err := s.PublishBatch(ctx, batch)
				return err
			},
		},
		{
			name: "stream.Fetch(10)",
			raw: func(ctx context.Context) error {
				_, err := rpc.Fetch(ctx, &streampb.StreamServiceFetchRequest{Stream: "s", Consumer: "c", Batch: 10})
				return err
			},
			wrapper: func(ctx context.Context) error {
				_, err := c.Fetch(ctx, 10, 0)
				return err
			},
		},
	}
}

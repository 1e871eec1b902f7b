package main

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var payloadSizes = []int{16, 128, 4 << 10, 64 << 10}

func init() {
	register(&Case{
		Group: "floor", Name: "unary-echo",
		Note:     "a unary gRPC call that echoes its payload: the cost of one round trip on this loopback",
		Payloads: payloadSizes,
		Sides: []Side{{System: "grpc", Label: "gRPC unary echo", Setup: func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
			in := wrapperspb.Bytes(payload(p.Payload))
			return func(ctx context.Context, w, i int) error { return env.Floor.echo(ctx, in) }, nil, nil
		}}},
	})
	register(&Case{
		Group: "floor", Name: "stream-ping",
		Note:     "one message out and its echo back on an already-open bidi stream (one stream per worker)",
		Payloads: payloadSizes,
		Sides: []Side{{System: "grpc", Label: "gRPC bidi ping", Setup: func(ctx context.Context, env *Env, p Point) (Op, func(), error) {
			sctx, cancel := context.WithCancel(ctx)
			streams := make([]grpc.ClientStream, p.Conc)
			for w := range streams {
				s, err := env.Floor.ping(sctx)
				if err != nil {
					cancel()
					return nil, nil, err
				}
				streams[w] = s
			}
			in := wrapperspb.Bytes(payload(p.Payload))
			outs := make([]wrapperspb.BytesValue, p.Conc)
			op := func(ctx context.Context, w, i int) error {
				if err := streams[w].SendMsg(in); err != nil {
					return err
				}
				return streams[w].RecvMsg(&outs[w])
			}
			cleanup := func() {
				for _, s := range streams {
					_ = s.CloseSend()
				}
				cancel()
			}
			return op, cleanup, nil
		}}},
	})
}

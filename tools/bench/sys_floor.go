package main

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The floor: a gRPC service that does nothing but echo, served on loopback in
// the same process as the embedded waymaker server, so that every figure can
// be read as a multiple of the physical round trip.

type echoServer interface {
	Echo(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
	Ping(grpc.BidiStreamingServer[wrapperspb.BytesValue, wrapperspb.BytesValue]) error
}

type echoImpl struct{}

func (echoImpl) Echo(_ context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	return in, nil
}

func (echoImpl) Ping(s grpc.BidiStreamingServer[wrapperspb.BytesValue, wrapperspb.BytesValue]) error {
	for {
		m, err := s.Recv()
		if err != nil {
			return nil // the client closed its side, or the stream ended
		}
		if err := s.Send(m); err != nil {
			return err
		}
	}
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "wmbench.Echo",
	HandlerType: (*echoServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(echoServer).Echo(ctx, in)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName: "Ping",
		Handler: func(srv any, stream grpc.ServerStream) error {
			return srv.(echoServer).Ping(&grpc.GenericServerStream[wrapperspb.BytesValue, wrapperspb.BytesValue]{ServerStream: stream})
		},
		ServerStreams: true,
		ClientStreams: true,
	}},
}

type floorSys struct {
	cc *grpc.ClientConn
}

func init() {
	systems["grpc"] = func(e *Env) (func(), string, error) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, "", err
		}
		srv := grpc.NewServer()
		srv.RegisterService(&echoDesc, echoImpl{})
		go func() { _ = srv.Serve(lis) }()
		cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			srv.Stop()
			return nil, "", err
		}
		e.Floor = &floorSys{cc: cc}
		stop := func() { cc.Close(); srv.Stop() }
		return stop, "a raw gRPC echo service (grpc-go, default options) on 127.0.0.1, one client connection", nil
	}
}

func (f *floorSys) echo(ctx context.Context, in *wrapperspb.BytesValue) error {
	out := new(wrapperspb.BytesValue)
	return f.cc.Invoke(ctx, "/wmbench.Echo/Echo", in, out)
}

var pingDesc = &grpc.StreamDesc{StreamName: "Ping", ServerStreams: true, ClientStreams: true}

func (f *floorSys) ping(ctx context.Context) (grpc.ClientStream, error) {
	return f.cc.NewStream(ctx, pingDesc, "/wmbench.Echo/Ping")
}

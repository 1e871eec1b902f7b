package transport

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
)

// seqService is a small gRPC service written for these tests. Count streams
// the sequence numbers after the request's resume point; Do answers unary
// calls with whatever result the test queued.
type seqService struct {
	total uint64 // Count sends up to and including this number

	mu sync.Mutex
	// dropAfter makes the next Count stream fail with Unavailable after it
	// has sent that many messages (0: never).
	dropAfter int
	opens     []uint64 // resume points Count was opened with
	// opened, when set, receives every resume point Count is opened with.
	opened chan uint64
	// hold, when set, makes Count wait for the stream's end after sending
	// everything instead of returning.
	hold bool
	// pauseAt makes the next Count stream stop sending after that number
	// and wait for its end (0: never), so a test can cut it there.
	pauseAt uint64

	doResults []doResult
	doCalls   atomic.Int32
	stalled   chan struct{} // see doResult.stall
}

type doResult struct {
	code   codes.Code // non-OK: fail with this gRPC status
	result *commonpb.Result
	// stall makes the call wait for stalled to close (a server waiting
	// for a leader that does not come); the client's deadline ends it.
	stall bool
	// hint, with a non-OK code, names a leader's client address in the
	// status's Result detail, as a node that cannot reach that leader does.
	hint string
}

func (s *seqService) count(req *wrapperspb.UInt64Value, stream grpc.ServerStream) error {
	s.mu.Lock()
	s.opens = append(s.opens, req.GetValue())
	drop := s.dropAfter
	s.dropAfter = 0
	hold := s.hold
	opened := s.opened
	pause := s.pauseAt
	s.pauseAt = 0
	s.mu.Unlock()
	if opened != nil {
		opened <- req.GetValue()
	}
	n := 0
	for seq := req.GetValue() + 1; seq <= s.total; seq++ {
		if drop > 0 && n == drop {
			return status.Error(codes.Unavailable, "dropped by test")
		}
		if err := stream.SendMsg(wrapperspb.UInt64(seq)); err != nil {
			return err
		}
		n++
		if seq == pause {
			<-stream.Context().Done()
			return stream.Context().Err()
		}
	}
	if hold {
		<-stream.Context().Done()
	}
	return nil
}

func (s *seqService) do(_ context.Context, _ *wrapperspb.StringValue) (*commonpb.Result, error) {
	i := int(s.doCalls.Add(1)) - 1
	s.mu.Lock()
	if i >= len(s.doResults) {
		s.mu.Unlock()
		return &commonpb.Result{Success: true}, nil
	}
	r := s.doResults[i]
	s.mu.Unlock()
	if r.stall {
		<-s.stalled
		return nil, status.Error(codes.Unavailable, "test: stalled")
	}
	if r.code != codes.OK {
		st := status.New(r.code, "test failure")
		if r.hint != "" {
			st, _ = st.WithDetails(&commonpb.Result{ResultCode: CodeUnavailable, LeaderHint: r.hint})
		}
		return nil, st.Err()
	}
	return r.result, nil
}

func (s *seqService) openedWith() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.opens...)
}

var seqDesc = grpc.ServiceDesc{
	ServiceName: "waymaker.test.Seq",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Do",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(*seqService).do(ctx, in)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Count",
		ServerStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			in := new(wrapperspb.UInt64Value)
			if err := stream.RecvMsg(in); err != nil {
				return err
			}
			return srv.(*seqService).count(in, stream)
		},
	}},
}

// testServer serves svc on addr ("127.0.0.1:0" for a fresh port), with
// opts (credentials), and stops with the test.
type testServer struct {
	addr string
	srv  *grpc.Server
	done chan struct{}
}

func serve(t *testing.T, addr string, svc *seqService, opts ...grpc.ServerOption) *testServer {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: lis.Addr().String(), srv: grpc.NewServer(opts...), done: make(chan struct{})}
	s.srv.RegisterService(&seqDesc, svc)
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(lis)
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) stop() {
	s.srv.Stop()
	<-s.done
}

// countStream opens Count from a resume point, through conn.
func countStream(ctx context.Context, conn *Conn, from uint64) (Receiver[wrapperspb.UInt64Value], error) {
	st, err := conn.NewStream(ctx, &seqDesc.Streams[0], "/waymaker.test.Seq/Count")
	if err != nil {
		return nil, err
	}
	if err := st.SendMsg(wrapperspb.UInt64(from)); err != nil {
		return nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	return &grpc.GenericClientStream[wrapperspb.UInt64Value, wrapperspb.UInt64Value]{ClientStream: st}, nil
}

type doResp struct{ r *commonpb.Result }

func (d doResp) GetResult() *commonpb.Result { return d.r }

func callDo(ctx context.Context, conn *Conn) (doResp, error) {
	r := new(commonpb.Result)
	err := conn.Invoke(ctx, "/waymaker.test.Seq/Do", wrapperspb.String("x"), r)
	return doResp{r}, err
}

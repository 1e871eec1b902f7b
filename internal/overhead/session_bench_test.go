package overhead

import (
	"context"
	"os"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
)

// WAYMAKER_OVERHEAD_SESSIONS=on measures the pairs on the session path:
// the in-process server then also offers a minimal session service, so
// the raw stubs and the SDK, on the same transport.Conn, both carry their
// calls as envelopes. Unset (or "off"), the server offers none and both
// make unary calls. The reference server's session service is
// server/internal/session (another module); this one only dispatches.
func sessionsOn() bool { return os.Getenv("WAYMAKER_OVERHEAD_SESSIONS") == "on" }

// recorder registers services on the gRPC server and notes their unary
// handlers, for the session service to dispatch to.
type recorder struct {
	grpc.ServiceRegistrar
	methods map[string]methodImpl
}

type methodImpl struct {
	h    grpc.MethodHandler
	impl any
}

func (r *recorder) RegisterService(d *grpc.ServiceDesc, impl any) {
	r.ServiceRegistrar.RegisterService(d, impl)
	for _, m := range d.Methods {
		r.methods["/"+d.ServiceName+"/"+m.MethodName] = methodImpl{m.Handler, impl}
	}
}

type sessionServer struct {
	sessionpb.UnimplementedSessionServiceServer
	methods   map[string]methodImpl
	envelopes atomic.Int64
}

func (s *sessionServer) Open(context.Context, *sessionpb.SessionServiceOpenRequest) (*sessionpb.SessionServiceOpenResponse, error) {
	return &sessionpb.SessionServiceOpenResponse{Result: &commonpb.Result{Success: true}, Window: 128, MaxPayloadBytes: 64 << 10}, nil
}

func (s *sessionServer) Call(st sessionpb.SessionService_CallServer) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		f, err := st.Recv()
		if err != nil {
			return err
		}
		if f.GetCancel() {
			continue
		}
		s.envelopes.Add(1)
		wg.Go(func() {
			r := &sessionpb.SessionServiceCallResponse{CallId: f.GetCallId()}
			resp, err := s.dispatch(st.Context(), f)
			if err != nil {
				ss := status.Convert(err)
				r.Status = &sessionpb.SessionStatus{Code: int32(ss.Code()), Message: ss.Message()}
			} else {
				r.Payload = resp
			}
			mu.Lock()
			defer mu.Unlock()
			_ = st.Send(r)
		})
	}
}

func (s *sessionServer) dispatch(ctx context.Context, f *sessionpb.SessionServiceCallRequest) ([]byte, error) {
	m, ok := s.methods[f.GetMethod()]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", f.GetMethod())
	}
	resp, err := m.h(m.impl, ctx, func(v any) error { return proto.Unmarshal(f.GetPayload(), v.(proto.Message)) }, nil)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(resp.(proto.Message))
}

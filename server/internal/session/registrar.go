package session

import (
	"sync"

	"google.golang.org/grpc"
)

// Registrar is a grpc.ServiceRegistrar that registers every service with
// the gRPC server it wraps and also records its unary and server-streaming
// methods, so that a session envelope or subscription naming one reaches
// the very handler the gRPC call reaches. Register services through it, not beside it: a service
// registered on the gRPC server directly is not offered on sessions.
type Registrar struct {
	next grpc.ServiceRegistrar

	mu      sync.RWMutex
	methods map[string]method // full method name "/pkg.Svc/M"
	streams map[string]streamMethod
}

// streamMethod is one recorded server-streaming method (the client sends
// one request, the server a stream of messages): what a subscription runs.
type streamMethod struct {
	handler grpc.StreamHandler
	impl    any
}

// method is one recorded unary method: its generated handler and the
// service implementation it is called on.
type method struct {
	handler grpc.MethodHandler
	impl    any
	// stream is the method's envelopeStream, made once here rather than
	// boxed again for every call.
	stream grpc.ServerTransportStream
}

// NewRegistrar wraps next (a *grpc.Server).
func NewRegistrar(next grpc.ServiceRegistrar) *Registrar {
	return &Registrar{next: next, methods: map[string]method{}, streams: map[string]streamMethod{}}
}

// RegisterService implements grpc.ServiceRegistrar.
func (r *Registrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	r.next.RegisterService(desc, impl)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range desc.Methods {
		full := "/" + desc.ServiceName + "/" + m.MethodName
		r.methods[full] = method{handler: m.Handler, impl: impl, stream: envelopeStream(full)}
	}
	for _, st := range desc.Streams {
		if st.ServerStreams && !st.ClientStreams {
			r.streams["/"+desc.ServiceName+"/"+st.StreamName] = streamMethod{handler: st.Handler, impl: impl}
		}
	}
}

func (r *Registrar) lookupStream(full string) (streamMethod, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.streams[full]
	return m, ok
}

func (r *Registrar) lookup(full string) (method, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.methods[full]
	return m, ok
}

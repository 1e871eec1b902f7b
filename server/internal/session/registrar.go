package session

import (
	"sync"

	"google.golang.org/grpc"
)

// Registrar is a grpc.ServiceRegistrar that registers every service with
// the gRPC server it wraps and also records its unary methods, so that a
// session envelope naming one reaches the very handler the unary call
// reaches. Register services through it, not beside it: a service
// registered on the gRPC server directly is not offered on sessions.
type Registrar struct {
	next grpc.ServiceRegistrar

	mu      sync.RWMutex
	methods map[string]method // full method name "/pkg.Svc/M"
}

// method is one recorded unary method: its generated handler and the
// service implementation it is called on.
type method struct {
	handler grpc.MethodHandler
	impl    any
}

// NewRegistrar wraps next (a *grpc.Server).
func NewRegistrar(next grpc.ServiceRegistrar) *Registrar {
	return &Registrar{next: next, methods: map[string]method{}}
}

// RegisterService implements grpc.ServiceRegistrar.
func (r *Registrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	r.next.RegisterService(desc, impl)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range desc.Methods {
		r.methods["/"+desc.ServiceName+"/"+m.MethodName] = method{handler: m.Handler, impl: impl}
	}
}

func (r *Registrar) lookup(full string) (method, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.methods[full]
	return m, ok
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/authpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/auth"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/stream"
)

// AuthConfig turns on authentication and permissions. The zero value
// enforces nothing: every call is served, as a server without auth does.
//
// With auth on, every call but health, reflection and the nodes' read
// barrier needs an identity (a bearer token from TokensFile, or a verified
// client certificate: its first URI SAN, else its Subject CommonName) and
// a role that grants the call's action on its resource. Roles and their
// bindings are replicated (the auth state machine) and managed with the
// AuthService; Bootstrap seeds them once, while they are empty.
type AuthConfig struct {
	// Enabled enforces authentication and permissions. TokensFile or a
	// bootstrap turn it on too; set it alone for client certificates only.
	Enabled bool
	// TokensFile holds the valid bearer tokens, hashed: one
	// "user: sha256:<64 hex>" a line, '#' comments ("waymakerd hash-token"
	// makes a line). It is reloaded when it changes; a version that does
	// not parse is logged and the previous tokens kept.
	TokensFile string
	// BootstrapFile seeds the roles and bindings, JSON of AuthBootstrap's
	// shape: {"roles": {"admin": ["*:*:admin"]}, "users": {"alice": ["admin"]}}.
	// Applied once, when the replicated permission data is empty.
	BootstrapFile string
	// Bootstrap is BootstrapFile given in code (waymakertest uses it); it
	// wins over BootstrapFile.
	Bootstrap *AuthBootstrap
	// NodeToken is the secret the cluster's nodes present to each other
	// (on calls they make themselves and on calls they forward to the
	// leader, with the caller's identity). Every node of a cluster needs
	// the same one; required in cluster mode with auth on. Keep it out of
	// the tokens file.
	NodeToken string
	// TokensReload is how often TokensFile is checked for a change.
	// Default 1s.
	TokensReload time.Duration
}

// AuthBootstrap is the initial permission data: roles by name, each a list
// of grants ("subsystem:pattern:action"), and identities with their roles.
type AuthBootstrap struct {
	Roles map[string][]string `json:"roles"`
	Users map[string][]string `json:"users"`
}

func (c AuthConfig) enforced() bool {
	return c.Enabled || c.TokensFile != "" || c.BootstrapFile != "" || c.Bootstrap != nil
}

// ParseAuthBootstrap parses and validates a bootstrap file's content.
func ParseAuthBootstrap(data []byte) (*AuthBootstrap, error) {
	var b AuthBootstrap
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("auth bootstrap: want JSON {\"roles\": {name: [grants]}, \"users\": {identity: [roles]}}: %w", err)
	}
	if _, err := b.state(); err != nil {
		return nil, err
	}
	return &b, nil
}

// state converts b to the replicated form, validated.
func (b *AuthBootstrap) state() (*authpb.AuthState, error) {
	st := &authpb.AuthState{}
	for _, name := range slices.Sorted(maps.Keys(b.Roles)) {
		st.Roles = append(st.Roles, &authpb.AuthRole{Name: name, Grants: b.Roles[name]})
	}
	for _, id := range slices.Sorted(maps.Keys(b.Users)) {
		st.Users = append(st.Users, &authpb.AuthUser{Identity: id, Roles: b.Users[id]})
	}
	if r := auth.CheckState(st); r != nil {
		return nil, fmt.Errorf("auth bootstrap: %s", r.GetMessage())
	}
	return st, nil
}

// authWiring is the server's auth: the replicated data (always
// registered, so every node replicates the same machines), and, when
// enforced, the authorizer the interceptors use.
type authWiring struct {
	m     *auth.Machine
	az    *auth.Authorizer // nil: not enforced
	boot  *authpb.AuthState
	token string // node token
}

func newAuthWiring(cfg Config) (*authWiring, error) {
	w := &authWiring{m: auth.New()}
	c := cfg.Auth
	if !c.enforced() {
		return w, nil
	}
	w.az = &auth.Authorizer{M: w.m, NodeToken: c.NodeToken}
	w.token = c.NodeToken
	if c.TokensFile != "" {
		t, err := auth.LoadTokens(c.TokensFile, cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("server: Config.Auth.TokensFile: %w", err)
		}
		w.az.Tokens = t
	}
	b := c.Bootstrap
	if b == nil && c.BootstrapFile != "" {
		data, err := os.ReadFile(c.BootstrapFile)
		if err != nil {
			return nil, fmt.Errorf("server: Config.Auth.BootstrapFile: %w", err)
		}
		if b, err = ParseAuthBootstrap(data); err != nil {
			return nil, fmt.Errorf("server: Config.Auth.BootstrapFile %s: %w", c.BootstrapFile, err)
		}
	}
	if b != nil {
		st, err := b.state()
		if err != nil {
			return nil, fmt.Errorf("server: Config.Auth.Bootstrap: %w", err)
		}
		w.boot = st
	}
	return w, nil
}

// validateAuth checks the auth fields of cfg.
func (cfg Config) validateAuth() error {
	c := cfg.Auth
	if c.TokensReload < 0 {
		return fmt.Errorf("server: Config.Auth.TokensReload: must not be negative, got %v", c.TokensReload)
	}
	if c.enforced() && cfg.clustered() && c.NodeToken == "" {
		return fmt.Errorf("server: Config.Auth.NodeToken: a cluster with auth needs a node token, the same on every node, so nodes can call and forward to each other")
	}
	if c.NodeToken != "" && (len(c.NodeToken) < 16 || len(c.NodeToken) > auth.MaxTokenLen || strings.ContainsAny(c.NodeToken, " \t\r\n")) {
		return fmt.Errorf("server: Config.Auth.NodeToken: want 16..%d bytes without whitespace", auth.MaxTokenLen)
	}
	return nil
}

// streamsBinding answers the stream that binds a subject (subjects never
// overlap, so there is at most one), for the check of a publish.
func streamsBinding(m *stream.Machine) func(string) []string {
	return func(subject string) []string {
		if name := m.StreamBinding(subject); name != "" {
			return []string{name}
		}
		return nil
	}
}

// forwardAuth rides on the context of an authorized call, so a forward to
// the leader carries the identity (forwardContext).
type forwardAuth struct {
	token string
	id    auth.Identity
}

type forwardAuthKey struct{}

// setForwardAuth sets the node token and forwarded identity on md, the
// metadata of a call forwarded to the leader, removing any a client set.
func setForwardAuth(ctx context.Context, md metadata.MD) {
	for _, k := range []string{auth.NodeTokenKey, auth.ForwardedIdentityKey, auth.ForwardedMethodKey} {
		delete(md, k)
	}
	if fa, ok := ctx.Value(forwardAuthKey{}).(forwardAuth); ok {
		md.Set(auth.NodeTokenKey, fa.token)
		md.Set(auth.ForwardedIdentityKey, fa.id.Name)
		md.Set(auth.ForwardedMethodKey, fa.id.Method)
	}
}

// nodeOutgoing is ctx for a call this node makes itself (announce, join),
// carrying the node token when there is one.
func (s *Server) nodeOutgoing(ctx context.Context) context.Context {
	if s.auth.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, auth.NodeTokenKey, s.auth.token)
}

// authorize authenticates and checks one call (or one message of a
// stream), answering the context to serve it with.
func (s *Server) authorize(ctx context.Context, method string, rule auth.Rule, msg any) (context.Context, auth.Identity, error) {
	id, err := s.auth.az.Identify(ctx)
	if err != nil {
		s.log.Debug("call refused: unauthenticated", zap.String("method", method), zap.String("reason", status.Convert(err).Message()))
		return ctx, id, err
	}
	m, _ := msg.(proto.Message)
	if err := s.auth.az.Authorize(id, method, rule, m); err != nil {
		s.log.Debug("call refused: permission denied", zap.String("method", method), zap.String("identity", id.Name))
		return ctx, id, err
	}
	ctx = auth.WithIdentity(ctx, id)
	if s.auth.token != "" {
		ctx = context.WithValue(ctx, forwardAuthKey{}, forwardAuth{token: s.auth.token, id: id})
	}
	return ctx, id, nil
}

func errNoRule(method string) error {
	return status.Errorf(codes.PermissionDenied, "waymaker: permission denied: %s has no permission rule", method)
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	rule, ok := auth.Rules[info.FullMethod]
	if !ok {
		return nil, errNoRule(info.FullMethod)
	}
	if rule.Open {
		return next(ctx, req)
	}
	ctx, id, err := s.authorize(ctx, info.FullMethod, rule, req)
	if err != nil {
		return nil, err
	}
	resp, err := next(ctx, req)
	if err == nil && rule.List != "" {
		if m, ok := resp.(proto.Message); ok {
			rule.FilterList(m, func(name string) bool { return s.auth.az.MayRead(id, rule.Sub, name) })
		}
	}
	return resp, err
}

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	rule, ok := auth.Rules[info.FullMethod]
	if !ok {
		return errNoRule(info.FullMethod)
	}
	if rule.Open {
		return next(srv, ss)
	}
	// Authenticate before the handler runs; authorize every message the
	// client sends (the request of a server stream, each message of a
	// client or bidi stream), before the handler sees it.
	ctx, _, err := s.authorize(ss.Context(), info.FullMethod, auth.Rule{AnyIdentity: true}, nil)
	if err != nil {
		return err
	}
	as := &authStream{ServerStream: ss, ctx: ctx, s: s, method: info.FullMethod, rule: rule}
	err = next(srv, as)
	// A handler may turn a failed receive into an answer of its own (an
	// upload's "ended before its header"): the refusal is the answer.
	if d := as.refusal(); d != nil {
		return d
	}
	return err
}

type authStream struct {
	grpc.ServerStream
	ctx    context.Context
	s      *Server
	method string
	rule   auth.Rule
	seen   bool // only RecvMsg's goroutine touches it

	mu     sync.Mutex // a bidi handler sends and receives on two goroutines
	denied error      // the refusal of a message, once there was one
}

func (a *authStream) Context() context.Context { return a.ctx }

func (a *authStream) refusal() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.denied
}

// SendMsg sends nothing after a refusal: the client gets the refusal.
func (a *authStream) SendMsg(m any) error {
	if d := a.refusal(); d != nil {
		return d
	}
	return a.ServerStream.SendMsg(m)
}

func (a *authStream) RecvMsg(m any) error {
	if err := a.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if a.rule.FirstOnly && a.seen {
		return nil
	}
	a.seen = true
	if _, _, err := a.s.authorize(a.ServerStream.Context(), a.method, a.rule, m); err != nil {
		a.mu.Lock()
		a.denied = err
		a.mu.Unlock()
		return err
	}
	return nil
}

// startAuth starts the tokens file's watch and applies the bootstrap, once
// the server is ready.
func (s *Server) startAuth(ctx context.Context) {
	if s.auth.az == nil {
		return
	}
	if t := s.auth.az.Tokens; t != nil {
		wctx, cancel := context.WithCancel(context.Background())
		s.bg.Add(2)
		go func() {
			defer s.bg.Done()
			t.Watch(wctx, cmpDur(s.cfg.Auth.TokensReload, time.Second))
		}()
		go func() {
			defer s.bg.Done()
			<-s.stopping
			cancel()
		}()
	}
	if s.auth.boot == nil && s.auth.m.Empty() {
		s.log.Warn("auth is on, but no role exists and no bootstrap was given: every call but health is refused (give --auth-bootstrap)")
	}
	if s.auth.boot == nil || !s.auth.m.Empty() {
		return
	}
	if s.node.Ready() && s.bootstrapAuth(ctx) {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		for s.auth.m.Empty() {
			changed := s.node.Changed()
			if s.node.Ready() && s.bootstrapAuth(context.Background()) {
				return
			}
			select {
			case <-changed:
			case <-s.stopping:
				return
			case <-time.After(time.Second): // a bounded pause before trying again, not a synchronisation
			}
		}
	}()
}

// bootstrapAuth proposes the bootstrap, reporting whether it is done with
// (applied, or the data was no longer empty).
func (s *Server) bootstrapAuth(ctx context.Context) bool {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(s.auth.boot)
	if err != nil {
		s.log.Error("auth bootstrap", zap.Error(err))
		return true
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := s.node.Propose(pctx, auth.Name, auth.OpBootstrap, payload)
	if err != nil {
		s.log.Debug("auth bootstrap not applied yet; retrying", zap.Error(err))
		return false
	}
	if r, ok := out.(*authpb.AuthServicePutRoleResponse); ok && r.GetResult().GetSuccess() {
		s.log.Info("auth bootstrap applied", zap.Int("roles", len(s.auth.boot.Roles)), zap.Int("identities", len(s.auth.boot.Users)))
	}
	return true
}

func cmpDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// HashToken returns the tokens file's form of a bearer token,
// "sha256:<64 hex digits>" ("waymakerd hash-token" prints it).
func HashToken(token string) string { return auth.HashToken(token) }

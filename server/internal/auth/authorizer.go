package auth

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Metadata keys between nodes. A client that sets them gains nothing: they
// are honoured only beside the cluster's node token.
const (
	// NodeTokenKey carries the node token (Config.Auth.NodeToken) on calls
	// a node makes itself or forwards to the leader.
	NodeTokenKey = "waymaker-node-token"
	// ForwardedIdentityKey and ForwardedMethodKey carry, on a forwarded
	// call, the identity the forwarding node authenticated and how.
	ForwardedIdentityKey = "waymaker-auth-identity"
	ForwardedMethodKey   = "waymaker-auth-method"
)

// NodeIdentity is the identity of the cluster's own nodes: calls carrying
// the node token and no forwarded identity. It is allowed everything; no
// token user or certificate can take it (a leading '@' is reserved).
const NodeIdentity = "@node"

// Identity is an authenticated caller.
type Identity struct {
	// Name is the token file's user, the certificate identity, or
	// NodeIdentity.
	Name string
	// Method is "token", "certificate" or "node".
	Method string
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity the interceptor put on ctx.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Authorizer authenticates calls and checks them against the replicated
// permission data.
type Authorizer struct {
	// M is the replicated permission data.
	M *Machine
	// Tokens are the valid bearer tokens; nil: none is accepted.
	Tokens *Tokens
	// NodeToken is the secret the cluster's nodes present to each other;
	// "" on a single node.
	NodeToken string
	// Streams returns the streams binding a subject (publish is checked on
	// them); nil: none.
	Streams func(subject string) []string
}

func unauthenticated(format string, args ...any) error {
	return status.Errorf(codes.Unauthenticated, "waymaker: "+format, args...)
}

// Identify authenticates the caller of ctx: the node token (with a
// forwarded identity, or as the node itself), else a bearer token, else a
// verified client certificate. A credential that is given and wrong fails;
// it does not fall back to another.
func (a *Authorizer) Identify(ctx context.Context) (Identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(NodeTokenKey); len(v) > 0 {
		if a.NodeToken == "" || !EqualSecret(v[0], a.NodeToken) {
			return Identity{}, unauthenticated("invalid node token")
		}
		if fid := md.Get(ForwardedIdentityKey); len(fid) > 0 {
			method := "forwarded"
			if m := md.Get(ForwardedMethodKey); len(m) > 0 {
				method = m[0]
			}
			return Identity{Name: fid[0], Method: method}, nil
		}
		return Identity{Name: NodeIdentity, Method: "node"}, nil
	}
	if v := md.Get("authorization"); len(v) > 0 {
		scheme, tok, ok := strings.Cut(v[0], " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
			return Identity{}, unauthenticated("malformed authorization metadata: want \"Bearer <token>\"")
		}
		if len(tok) > MaxTokenLen {
			return Identity{}, unauthenticated("bearer token is %d bytes, limit %d", len(tok), MaxTokenLen)
		}
		if a.Tokens == nil {
			return Identity{}, unauthenticated("this server accepts no bearer tokens (it was started without --auth-tokens)")
		}
		user, ok := a.Tokens.Lookup(tok)
		if !ok {
			return Identity{}, unauthenticated("invalid bearer token")
		}
		return Identity{Name: user, Method: "token"}, nil
	}
	if leaf := verifiedLeaf(ctx); leaf != nil {
		name := CertIdentity(leaf)
		if name == "" {
			return Identity{}, unauthenticated("the client certificate names no identity (no URI SAN and no Subject CommonName)")
		}
		if err := CheckIdentity(name); err != nil {
			return Identity{}, unauthenticated("client certificate: %v", err)
		}
		return Identity{Name: name, Method: "certificate"}, nil
	}
	return Identity{}, unauthenticated("no credentials: send a bearer token (authorization: Bearer <token>) or a client certificate")
}

func verifiedLeaf(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return info.State.VerifiedChains[0][0]
}

// CertIdentity is the identity of a verified client certificate: its
// first URI SAN (a SPIFFE id, say), else its Subject CommonName.
func CertIdentity(c *x509.Certificate) string {
	if len(c.URIs) > 0 {
		return c.URIs[0].String()
	}
	return c.Subject.CommonName
}

func denied(id Identity, method, sub, name string, action Action) error {
	what := fmt.Sprintf("%s %q", sub, name)
	if name == "" {
		what = sub + " (any resource)"
	}
	return status.Errorf(codes.PermissionDenied, "waymaker: permission denied: %q may not %s on %s (%s needs %s:%s:%s)",
		id.Name, action, what, method, sub, orStar(name), action)
}

func orStar(name string) string {
	if name == "" {
		return "*"
	}
	return name
}

// Authorize checks that id may make the call method with request msg
// under rule. Its error is a gRPC PermissionDenied naming the subsystem,
// the resource and the action.
func (a *Authorizer) Authorize(id Identity, method string, rule Rule, msg proto.Message) error {
	if id.Name == NodeIdentity && id.Method == "node" {
		return nil
	}
	switch {
	case rule.Open, rule.AnyIdentity:
		return nil
	case rule.NodeOnly:
		return status.Errorf(codes.PermissionDenied, "waymaker: permission denied: only the cluster's nodes may call %s", method)
	}
	action := rule.Action
	if rule.WriteIf != "" {
		for _, v := range Values(msg, rule.WriteIf) {
			if v != "" {
				action = max(action, ActionWrite)
			}
		}
	}
	check := func(name string, action Action) error {
		if !a.M.Allowed(id.Name, rule.Sub, name, action) {
			return denied(id, method, rule.Sub, name, action)
		}
		return nil
	}
	if len(rule.Names) == 0 {
		return check("", action)
	}
	var names []string
	for _, path := range rule.Names {
		names = append(names, Values(msg, path)...)
	}
	if rule.Subjects {
		subjects := names
		names = nil
		for _, s := range subjects {
			if a.Streams != nil {
				names = append(names, a.Streams(s)...)
			}
		}
		if len(names) == 0 {
			// No stream binds the subjects: nothing can be written (the
			// handler answers no_subject), but the caller must still hold
			// the action on some stream.
			return check("", action)
		}
	}
	if len(names) == 0 {
		// The request names no resource; the handler refuses it as
		// invalid, but only after the caller shows a grant of the action.
		return check("", action)
	}
	for _, n := range names {
		if err := check(n, action); err != nil {
			return err
		}
	}
	for _, path := range rule.Reads {
		for _, n := range Values(msg, path) {
			if err := check(n, ActionRead); err != nil {
				return err
			}
		}
	}
	if rule.Delegates != "" {
		for _, s := range Values(msg, rule.Delegates) {
			g, err := ParseGrant(s)
			if err != nil {
				continue // the handler refuses it, naming the grant
			}
			if !a.M.Covers(id.Name, g) {
				return status.Errorf(codes.PermissionDenied, "waymaker: permission denied: %q may not hand out %s: it holds no grant covering it (%s)", id.Name, g, method)
			}
		}
	}
	return nil
}

// MayRead reports whether id may read the resource name of sub (a list
// filter).
func (a *Authorizer) MayRead(id Identity, sub, name string) bool {
	return id.Name == NodeIdentity && id.Method == "node" || a.M.Allowed(id.Name, sub, name, ActionRead)
}

package api

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/genpb/authpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/auth"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// AuthService serves authpb.AuthService over the replicated permission
// data. The server's interceptor has authenticated and authorized the call
// (server/auth.go); here requests are validated and proposed.
type AuthService struct {
	authpb.UnimplementedAuthServiceServer
	m        *auth.Machine
	enforced bool
	d        Deps
}

// NewAuthService returns the service over m; enforced says whether the
// server checks calls (WhoAmI reports it).
func NewAuthService(m *auth.Machine, enforced bool, d Deps) *AuthService {
	return &AuthService{m: m, enforced: enforced, d: d}
}

// PutRole implements authpb.AuthServiceServer.
func (s *AuthService) PutRole(ctx context.Context, req *authpb.AuthServicePutRoleRequest) (*authpb.AuthServicePutRoleResponse, error) {
	_, bad := auth.CheckRole(req.GetRole())
	if bad != nil {
		return &authpb.AuthServicePutRoleResponse{Result: bad}, nil
	}
	return respond(ProposeEach[*authpb.AuthServicePutRoleResponse](ctx, s.d.Node, auth.Name, auth.OpPutRole, req))
}

// DeleteRole implements authpb.AuthServiceServer.
func (s *AuthService) DeleteRole(ctx context.Context, req *authpb.AuthServiceDeleteRoleRequest) (*authpb.AuthServiceDeleteRoleResponse, error) {
	if !auth.ValidRoleName(req.GetName()) {
		return &authpb.AuthServiceDeleteRoleResponse{Result: result.Invalidf("name", "%q: want 1..%d characters of [A-Za-z0-9._-]", req.GetName(), auth.MaxRoleNameLen)}, nil
	}
	return respond(ProposeEach[*authpb.AuthServiceDeleteRoleResponse](ctx, s.d.Node, auth.Name, auth.OpDeleteRole, req))
}

// SetUserRoles implements authpb.AuthServiceServer.
func (s *AuthService) SetUserRoles(ctx context.Context, req *authpb.AuthServiceSetUserRolesRequest) (*authpb.AuthServiceSetUserRolesResponse, error) {
	if bad := auth.CheckUserRoles(req.GetIdentity(), req.GetRoles()); bad != nil {
		return &authpb.AuthServiceSetUserRolesResponse{Result: bad}, nil
	}
	return respond(ProposeEach[*authpb.AuthServiceSetUserRolesResponse](ctx, s.d.Node, auth.Name, auth.OpSetUserRoles, req))
}

// ListRoles implements authpb.AuthServiceServer.
func (s *AuthService) ListRoles(ctx context.Context, _ *authpb.AuthServiceListRolesRequest) (*authpb.AuthServiceListRolesResponse, error) {
	return read(ctx, s.d, nil, func() *authpb.AuthServiceListRolesResponse {
		return &authpb.AuthServiceListRolesResponse{Result: result.OK(), Roles: s.m.State().GetRoles()}
	})
}

// ListUsers implements authpb.AuthServiceServer.
func (s *AuthService) ListUsers(ctx context.Context, _ *authpb.AuthServiceListUsersRequest) (*authpb.AuthServiceListUsersResponse, error) {
	return read(ctx, s.d, nil, func() *authpb.AuthServiceListUsersResponse {
		return &authpb.AuthServiceListUsersResponse{Result: result.OK(), Users: s.m.State().GetUsers()}
	})
}

// WhoAmI implements authpb.AuthServiceServer. It answers from this node's
// state, without the read barrier: it describes the caller as this node
// checks it.
func (s *AuthService) WhoAmI(ctx context.Context, _ *authpb.AuthServiceWhoAmIRequest) (*authpb.AuthServiceWhoAmIResponse, error) {
	if !s.enforced {
		return &authpb.AuthServiceWhoAmIResponse{Result: result.OK(), Method: "none"}, nil
	}
	id, _ := auth.IdentityFrom(ctx)
	roles, grants := s.m.Roles(id.Name)
	return &authpb.AuthServiceWhoAmIResponse{Result: result.OK(), Identity: id.Name, Method: id.Method, Roles: roles, Grants: grants, Enforced: true}, nil
}

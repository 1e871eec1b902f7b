package auth

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/genpb/authpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client is the permissions administration client. It is cheap to create
// and safe for concurrent use.
type Client struct {
	conn *transport.Conn
	rpc  authpb.AuthServiceClient
}

// New returns an auth client on conn. It touches no network.
func New(conn *transport.Conn) *Client {
	return &Client{conn: conn, rpc: authpb.NewAuthServiceClient(conn)}
}

// Role is a named set of grants.
type Role struct {
	// Name is 1..64 characters of [A-Za-z0-9._-].
	Name string
	// Grants are "subsystem:pattern:action" strings, 1..256 of them.
	Grants []string
}

// User is an identity and the roles bound to it.
type User struct {
	// Identity is a tokens file user or a certificate identity.
	Identity string
	// Roles are the bound role names, sorted.
	Roles []string
}

// Identity is who the server takes the caller to be.
type Identity struct {
	// Name is the caller's identity; empty when the server enforces nothing.
	Name string
	// Method is "token", "certificate", or "none" when the server enforces
	// nothing.
	Method string
	// Roles are the roles bound to it, and Grants their grants.
	Roles, Grants []string
	// Enforced reports whether the server checks calls at all.
	Enforced bool
}

// PutRole creates or replaces a role. A bad name or grant (unknown
// subsystem or action, empty pattern) is refused with ErrInvalidArgument
// naming it, and nothing changes. Needs admin on auth:<role name>, and a
// grant of the caller's covering each grant put (else ErrPermissionDenied).
func (c *Client) PutRole(ctx context.Context, r Role) error {
	if r.Name == "" {
		return transport.Invalid("role.name", "must not be empty")
	}
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*authpb.AuthServicePutRoleResponse, error) {
		return c.rpc.PutRole(ctx, &authpb.AuthServicePutRoleRequest{Role: &authpb.AuthRole{Name: r.Name, Grants: r.Grants}})
	})
	return err
}

// DeleteRole deletes a role and unbinds it from every identity; a role
// that does not exist answers ErrNotFound. Needs admin on auth:<name>.
func (c *Client) DeleteRole(ctx context.Context, name string) error {
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*authpb.AuthServiceDeleteRoleResponse, error) {
		return c.rpc.DeleteRole(ctx, &authpb.AuthServiceDeleteRoleRequest{Name: name})
	})
	return err
}

// ListRoles lists the roles the caller may read, in name order.
func (c *Client) ListRoles(ctx context.Context) ([]Role, error) {
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*authpb.AuthServiceListRolesResponse, error) {
		return c.rpc.ListRoles(ctx, &authpb.AuthServiceListRolesRequest{})
	})
	if err != nil {
		return nil, err
	}
	out := make([]Role, 0, len(resp.GetRoles()))
	for _, r := range resp.GetRoles() {
		out = append(out, Role{Name: r.GetName(), Grants: r.GetGrants()})
	}
	return out, nil
}

// SetUserRoles binds identity to exactly roles, replacing what it had; no
// roles removes it. Every role must exist (else ErrNotFound, nothing
// changed). Needs admin on auth:<identity> and on auth:<role> for each
// role.
func (c *Client) SetUserRoles(ctx context.Context, identity string, roles ...string) error {
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*authpb.AuthServiceSetUserRolesResponse, error) {
		return c.rpc.SetUserRoles(ctx, &authpb.AuthServiceSetUserRolesRequest{Identity: identity, Roles: roles})
	})
	return err
}

// ListUsers lists the bound identities the caller may read, in order.
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*authpb.AuthServiceListUsersResponse, error) {
		return c.rpc.ListUsers(ctx, &authpb.AuthServiceListUsersRequest{})
	})
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(resp.GetUsers()))
	for _, u := range resp.GetUsers() {
		out = append(out, User{Identity: u.GetIdentity(), Roles: u.GetRoles()})
	}
	return out, nil
}

// WhoAmI answers the caller's identity, roles and grants as the node
// reached checks them.
func (c *Client) WhoAmI(ctx context.Context) (Identity, error) {
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*authpb.AuthServiceWhoAmIResponse, error) {
		return c.rpc.WhoAmI(ctx, &authpb.AuthServiceWhoAmIRequest{})
	})
	if err != nil {
		return Identity{}, err
	}
	return Identity{Name: resp.GetIdentity(), Method: resp.GetMethod(), Roles: resp.GetRoles(), Grants: resp.GetGrants(), Enforced: resp.GetEnforced()}, nil
}

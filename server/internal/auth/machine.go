package auth

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/authpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Name is the registered subsystem name; never change it.
const Name = "auth"

// Ops of the auth state machine. Each answers its proto response.
const (
	// OpPutRole: payload AuthServicePutRoleRequest.
	OpPutRole uint16 = 1
	// OpDeleteRole: payload AuthServiceDeleteRoleRequest.
	OpDeleteRole uint16 = 2
	// OpSetUserRoles: payload AuthServiceSetUserRolesRequest.
	OpSetUserRoles uint16 = 3
	// OpBootstrap: payload AuthState; applied only while the state is
	// empty (no role and no user), so every node may propose its bootstrap
	// file and only the first to commit counts. Answers
	// AuthServicePutRoleResponse (success, or exists when not empty).
	OpBootstrap uint16 = 4
)

// Machine is the replicated permission data: roles and their grants, and
// identities and their roles.
type Machine struct {
	mu    sync.RWMutex
	roles map[string][]Grant  // role -> grants, as given
	raw   map[string][]string // role -> grants as strings, as given
	users map[string][]string // identity -> sorted role names
	cache map[string][]Grant  // identity -> effective grants, cleared on every change
}

var _ fsm.Subsystem = (*Machine)(nil)

// New returns an empty machine.
func New() *Machine {
	return &Machine{roles: map[string][]Grant{}, raw: map[string][]string{}, users: map[string][]string{}, cache: map[string][]Grant{}}
}

// Name implements fsm.Subsystem.
func (m *Machine) Name() string { return Name }

// Tick implements fsm.Subsystem: nothing expires.
func (m *Machine) Tick(int64) {}

// NextDeadline implements fsm.Subsystem.
func (m *Machine) NextDeadline() int64 { return 0 }

// Empty reports whether no role and no identity exist (a bootstrap would
// apply).
func (m *Machine) Empty() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.roles) == 0 && len(m.users) == 0
}

// Allowed reports whether identity may do action on the resource name of
// subsystem sub ("" names the subsystem as a whole).
func (m *Machine) Allowed(identity, sub, name string, action Action) bool {
	for _, g := range m.grantsOf(identity) {
		if g.Allows(sub, name, action) {
			return true
		}
	}
	return false
}

// Covers reports whether identity holds a grant that allows everything g
// allows: at least its action, on its subsystem (or all), with a pattern
// matching every name g's does (g's '*' taken as a literal, which only a
// '*' of the holder's pattern can match).
func (m *Machine) Covers(identity string, g Grant) bool {
	for _, h := range m.grantsOf(identity) {
		if h.Action >= g.Action && (h.Subsystem == "*" || h.Subsystem == g.Subsystem) && Match(h.Pattern, g.Pattern) {
			return true
		}
	}
	return false
}

// grantsOf returns the effective grants of identity, cached per change.
func (m *Machine) grantsOf(identity string) []Grant {
	m.mu.RLock()
	gs, ok := m.cache[identity]
	m.mu.RUnlock()
	if ok {
		return gs
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if gs, ok := m.cache[identity]; ok {
		return gs
	}
	for _, r := range m.users[identity] {
		gs = append(gs, m.roles[r]...)
	}
	if len(m.cache) > MaxUsers { // unknown identities must not grow it without bound
		clear(m.cache)
	}
	m.cache[identity] = gs
	return gs
}

// Roles returns the roles bound to identity and their grants (strings).
func (m *Machine) Roles(identity string) (roles, grants []string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	roles = slices.Clone(m.users[identity])
	for _, r := range roles {
		grants = append(grants, m.raw[r]...)
	}
	return roles, grants
}

// State returns a copy of the whole permission data, sorted.
func (m *Machine) State() *authpb.AuthState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.stateLocked()
}

func (m *Machine) stateLocked() *authpb.AuthState {
	st := &authpb.AuthState{}
	for _, name := range slices.Sorted(maps.Keys(m.raw)) {
		st.Roles = append(st.Roles, &authpb.AuthRole{Name: name, Grants: slices.Clone(m.raw[name])})
	}
	for _, id := range slices.Sorted(maps.Keys(m.users)) {
		st.Users = append(st.Users, &authpb.AuthUser{Identity: id, Roles: slices.Clone(m.users[id])})
	}
	return st
}

// CheckRole validates a role: its name, its grant count, and each grant.
// The result names the field and the rule.
func CheckRole(r *authpb.AuthRole) ([]Grant, *commonpb.Result) {
	if r == nil {
		return nil, result.Invalid("role", "is required")
	}
	if !ValidRoleName(r.GetName()) {
		return nil, result.Invalidf("role.name", "%q: want 1..%d characters of [A-Za-z0-9._-]", r.GetName(), MaxRoleNameLen)
	}
	if len(r.GetGrants()) == 0 {
		return nil, result.Invalid("role.grants", "a role needs at least one grant")
	}
	if len(r.GetGrants()) > MaxGrantsPerRole {
		return nil, result.Invalidf("role.grants", "%d grants, limit %d", len(r.GetGrants()), MaxGrantsPerRole)
	}
	gs := make([]Grant, 0, len(r.GetGrants()))
	for i, s := range r.GetGrants() {
		g, err := ParseGrant(s)
		if err != nil {
			return nil, result.Invalidf(fmt.Sprintf("role.grants[%d]", i), "%v", err)
		}
		gs = append(gs, g)
	}
	return gs, nil
}

// CheckUserRoles validates a binding's identity and role list (not that
// the roles exist: Apply checks that against the state).
func CheckUserRoles(identity string, roles []string) *commonpb.Result {
	if err := CheckIdentity(identity); err != nil {
		return result.Invalidf("identity", "%v", err)
	}
	if len(roles) > MaxRolesPerUser {
		return result.Invalidf("roles", "%d roles, limit %d", len(roles), MaxRolesPerUser)
	}
	for i, r := range roles {
		if !ValidRoleName(r) {
			return result.Invalidf(fmt.Sprintf("roles[%d]", i), "%q: want 1..%d characters of [A-Za-z0-9._-]", r, MaxRoleNameLen)
		}
	}
	return nil
}

// Apply implements fsm.Subsystem.
func (m *Machine) Apply(cmd fsm.Command) any {
	switch cmd.Op {
	case OpPutRole:
		var req authpb.AuthServicePutRoleRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("auth: put role payload: %w", err)
		}
		return &authpb.AuthServicePutRoleResponse{Result: m.guarded(func() *commonpb.Result { return m.putRole(req.GetRole()) })}
	case OpDeleteRole:
		var req authpb.AuthServiceDeleteRoleRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("auth: delete role payload: %w", err)
		}
		return &authpb.AuthServiceDeleteRoleResponse{Result: m.guarded(func() *commonpb.Result { return m.deleteRole(req.GetName()) })}
	case OpSetUserRoles:
		var req authpb.AuthServiceSetUserRolesRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("auth: set user roles payload: %w", err)
		}
		return &authpb.AuthServiceSetUserRolesResponse{Result: m.guarded(func() *commonpb.Result { return m.setUserRoles(req.GetIdentity(), req.GetRoles()) })}
	case OpBootstrap:
		var st authpb.AuthState
		if err := proto.Unmarshal(cmd.Payload, &st); err != nil {
			return fmt.Errorf("auth: bootstrap payload: %w", err)
		}
		if !m.Empty() {
			return &authpb.AuthServicePutRoleResponse{Result: result.Fail(result.CodeExists, "the permission data is not empty; a bootstrap applies only once")}
		}
		if r := m.load(&st); r != nil {
			return &authpb.AuthServicePutRoleResponse{Result: r}
		}
		return &authpb.AuthServicePutRoleResponse{Result: result.OK()}
	}
	return fmt.Errorf("auth: unknown op %d", cmd.Op)
}

// guarded applies change, undoing it when it would leave no identity able
// to manage every role and binding (a grant of admin on auth, or on *,
// with a pattern of only '*'), while one could before: nobody can lock the
// cluster's administrators out by one call. It runs on the FSM goroutine,
// the only writer, so the state cannot change between the parts.
func (m *Machine) guarded(change func() *commonpb.Result) *commonpb.Result {
	m.mu.RLock()
	had := m.superAdminLocked()
	roles, raw, users := maps.Clone(m.roles), maps.Clone(m.raw), maps.Clone(m.users)
	m.mu.RUnlock()
	r := change()
	if r.GetSuccess() && had {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.superAdminLocked() {
			m.roles, m.raw, m.users = roles, raw, users
			m.changedLocked()
			return result.Invalid("roles", "this change would leave no identity with admin on auth:* (who manages roles); grant it to another identity first")
		}
	}
	return r
}

func (m *Machine) superAdminLocked() bool {
	for _, rs := range m.users {
		for _, r := range rs {
			for _, g := range m.roles[r] {
				if g.Action == ActionAdmin && (g.Subsystem == "*" || g.Subsystem == "auth") && strings.Trim(g.Pattern, "*") == "" {
					return true
				}
			}
		}
	}
	return false
}

func (m *Machine) changedLocked() {
	clear(m.cache)
}

func (m *Machine) putRole(r *authpb.AuthRole) *commonpb.Result {
	gs, bad := CheckRole(r)
	if bad != nil {
		return bad
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roles[r.GetName()]; !ok && len(m.roles) >= MaxRoles {
		return result.Failf(result.CodeLimitExceeded, "%d roles exist, limit %d", len(m.roles), MaxRoles)
	}
	m.roles[r.GetName()] = gs
	m.raw[r.GetName()] = slices.Clone(r.GetGrants())
	m.changedLocked()
	return result.OK()
}

func (m *Machine) deleteRole(name string) *commonpb.Result {
	if !ValidRoleName(name) {
		return result.Invalidf("name", "%q: want 1..%d characters of [A-Za-z0-9._-]", name, MaxRoleNameLen)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.roles[name]; !ok {
		return result.Failf(result.CodeNotFound, "role %q does not exist", name)
	}
	delete(m.roles, name)
	delete(m.raw, name)
	for _, id := range slices.Sorted(maps.Keys(m.users)) {
		rs := slices.DeleteFunc(slices.Clone(m.users[id]), func(r string) bool { return r == name })
		if len(rs) == 0 {
			delete(m.users, id)
		} else {
			m.users[id] = rs
		}
	}
	m.changedLocked()
	return result.OK()
}

func (m *Machine) setUserRoles(identity string, roles []string) *commonpb.Result {
	if r := CheckUserRoles(identity, roles); r != nil {
		return r
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range roles {
		if _, ok := m.roles[r]; !ok {
			return result.Failf(result.CodeNotFound, "role %q does not exist", r)
		}
	}
	if len(roles) == 0 {
		delete(m.users, identity)
		m.changedLocked()
		return result.OK()
	}
	if _, ok := m.users[identity]; !ok && len(m.users) >= MaxUsers {
		return result.Failf(result.CodeLimitExceeded, "%d identities are bound, limit %d", len(m.users), MaxUsers)
	}
	rs := slices.Compact(slices.Sorted(slices.Values(roles)))
	m.users[identity] = rs
	m.changedLocked()
	return result.OK()
}

// load replaces the state with st after validating all of it; on a bad
// entry it changes nothing.
func (m *Machine) load(st *authpb.AuthState) *commonpb.Result {
	roles := map[string][]Grant{}
	raw := map[string][]string{}
	users := map[string][]string{}
	if len(st.GetRoles()) > MaxRoles {
		return result.Invalidf("roles", "%d roles, limit %d", len(st.GetRoles()), MaxRoles)
	}
	if len(st.GetUsers()) > MaxUsers {
		return result.Invalidf("users", "%d identities, limit %d", len(st.GetUsers()), MaxUsers)
	}
	for _, r := range st.GetRoles() {
		gs, bad := CheckRole(r)
		if bad != nil {
			return bad
		}
		roles[r.GetName()] = gs
		raw[r.GetName()] = slices.Clone(r.GetGrants())
	}
	for _, u := range st.GetUsers() {
		if bad := CheckUserRoles(u.GetIdentity(), u.GetRoles()); bad != nil {
			return bad
		}
		for _, r := range u.GetRoles() {
			if _, ok := roles[r]; !ok {
				return result.Failf(result.CodeNotFound, "identity %q: role %q does not exist", u.GetIdentity(), r)
			}
		}
		if len(u.GetRoles()) > 0 {
			users[u.GetIdentity()] = slices.Compact(slices.Sorted(slices.Values(u.GetRoles())))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roles, m.raw, m.users = roles, raw, users
	m.changedLocked()
	return nil
}

// Snapshot implements fsm.Subsystem: the state as a deterministic AuthState.
func (m *Machine) Snapshot() (func(io.Writer) error, error) {
	m.mu.RLock()
	st := m.stateLocked()
	m.mu.RUnlock()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		return nil, err
	}
	return func(w io.Writer) error { _, err := w.Write(b); return err }, nil
}

// maxSnapshot bounds a restored snapshot: the limits' worst case is far
// below it.
const maxSnapshot = 256 << 20

// Restore implements fsm.Subsystem.
func (m *Machine) Restore(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, maxSnapshot+1))
	if err != nil {
		return err
	}
	if len(data) > maxSnapshot {
		return fmt.Errorf("auth: snapshot over %d bytes", maxSnapshot)
	}
	var st authpb.AuthState
	if err := proto.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("auth: snapshot: %w", err)
	}
	if bad := m.load(&st); bad != nil {
		return fmt.Errorf("auth: snapshot: %s", bad.GetMessage())
	}
	return nil
}

// CheckState validates a whole permission data set (a bootstrap) without
// applying it; nil when it would apply.
func CheckState(st *authpb.AuthState) *commonpb.Result { return New().load(st) }

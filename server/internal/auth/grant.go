package auth

import (
	"fmt"
	"strings"
)

// Action is what a grant allows. Admin implies write, which implies read.
type Action uint8

// Actions, in increasing power.
const (
	ActionNone Action = iota
	// ActionRead: read data and configuration, watch, consume, list.
	ActionRead
	// ActionWrite: change data (put, publish, acquire, ack, push).
	ActionWrite
	// ActionAdmin: create, update and delete resources, change cluster
	// membership, manage roles.
	ActionAdmin
)

func (a Action) String() string {
	switch a {
	case ActionRead:
		return "read"
	case ActionWrite:
		return "write"
	case ActionAdmin:
		return "admin"
	}
	return "none"
}

// ParseAction parses "read", "write" or "admin".
func ParseAction(s string) (Action, error) {
	switch s {
	case "read":
		return ActionRead, nil
	case "write":
		return ActionWrite, nil
	case "admin":
		return ActionAdmin, nil
	}
	return ActionNone, fmt.Errorf("unknown action %q: want read, write or admin", s)
}

// Subsystems are the names a grant may use ("*" matches every one).
var Subsystems = []string{"kv", "lock", "stream", "collections", "sketch", "objstore", "cache", "cluster", "auth"}

// Limits of the permission data (docs/LIMITS.md).
const (
	MaxRoles         = 1024
	MaxGrantsPerRole = 256
	MaxUsers         = 10000
	MaxRolesPerUser  = 64
	MaxRoleNameLen   = 64
	MaxIdentityLen   = 256
	MaxPatternLen    = 256
	MaxPatternStars  = 8
)

// Grant allows Action (and every lesser action) on the resources of
// Subsystem whose name matches Pattern.
type Grant struct {
	Subsystem string // one of Subsystems, or "*"
	Pattern   string // "*" matches any run of characters
	Action    Action
}

func (g Grant) String() string { return g.Subsystem + ":" + g.Pattern + ":" + g.Action.String() }

// ParseGrant parses "subsystem:pattern:action". The pattern may itself
// contain ':' (a lock key "leader:*"): the subsystem ends at the first ':'
// and the action starts after the last.
func ParseGrant(s string) (Grant, error) {
	i, j := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if i < 0 || i == j {
		return Grant{}, fmt.Errorf("grant %q: want subsystem:pattern:action, e.g. kv:orders-*:write", s)
	}
	g := Grant{Subsystem: s[:i], Pattern: s[i+1 : j]}
	if g.Subsystem != "*" && !known(g.Subsystem) {
		return Grant{}, fmt.Errorf("grant %q: unknown subsystem %q: want one of %s or *", s, g.Subsystem, strings.Join(Subsystems, ", "))
	}
	if err := checkPattern(g.Pattern); err != nil {
		return Grant{}, fmt.Errorf("grant %q: %w", s, err)
	}
	a, err := ParseAction(s[j+1:])
	if err != nil {
		return Grant{}, fmt.Errorf("grant %q: %w", s, err)
	}
	g.Action = a
	return g, nil
}

func known(sub string) bool {
	for _, s := range Subsystems {
		if s == sub {
			return true
		}
	}
	return false
}

func checkPattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty pattern: use * for every name")
	case len(p) > MaxPatternLen:
		return fmt.Errorf("pattern is %d bytes, limit %d", len(p), MaxPatternLen)
	case strings.Count(p, "*") > MaxPatternStars:
		return fmt.Errorf("pattern has %d '*', limit %d", strings.Count(p, "*"), MaxPatternStars)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("pattern holds a control character")
		}
	}
	return nil
}

// Match reports whether name matches pattern, where '*' matches any run of
// characters (also none) and every other byte matches itself.
func Match(pattern, name string) bool {
	// Greedy with backtracking to the last star: linear in practice, and
	// bounded by MaxPatternStars*len(name).
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Allows reports whether g allows action on the resource name of
// subsystem sub. An empty name (a call on the subsystem as a whole, a
// list) is allowed by any grant of the subsystem with the action.
func (g Grant) Allows(sub, name string, action Action) bool {
	if g.Action < action || (g.Subsystem != "*" && g.Subsystem != sub) {
		return false
	}
	return name == "" || Match(g.Pattern, name)
}

// ValidRoleName reports whether s is 1..MaxRoleNameLen characters of
// [A-Za-z0-9._-].
func ValidRoleName(s string) bool {
	if s == "" || len(s) > MaxRoleNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CheckIdentity validates an identity bound to roles: 1..MaxIdentityLen
// bytes, no control character or whitespace, not starting with '@'
// (reserved for the server's own identities).
func CheckIdentity(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty identity")
	case len(s) > MaxIdentityLen:
		return fmt.Errorf("identity is %d bytes, limit %d", len(s), MaxIdentityLen)
	case s[0] == '@':
		return fmt.Errorf("identity %q: a leading '@' is reserved", s)
	}
	for _, r := range s {
		if r <= 0x20 || r == 0x7f {
			return fmt.Errorf("identity holds whitespace or a control character")
		}
	}
	return nil
}

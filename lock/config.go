package lock

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Limits the client checks before sending anything. The server checks them
// again (against its own, configurable key limit).
const (
	// DefaultLeaseTTL is the lease TTL when Config.LeaseTTL is zero.
	DefaultLeaseTTL = 30 * time.Second
	// MinLeaseTTL is the smallest LeaseTTL accepted.
	MinLeaseTTL = 500 * time.Millisecond
	// MaxLeaseTTL is the largest LeaseTTL accepted.
	MaxLeaseTTL = time.Hour
	// MaxMaxWait is the largest MaxWait accepted.
	MaxMaxWait = time.Hour
	// MaxKeyLen is the default server limit on a key, in bytes.
	MaxKeyLen = 1024
	// MaxKeys is the most keys one MultiLock may take.
	MaxKeys = 128
)

// Scope says where a grant is decided and how durable it is. The zero value
// is ScopeQuorum.
type Scope int

const (
	// ScopeQuorum sends the grant and its fence token through raft: the lock
	// survives server restarts and leader changes, and fence tokens strictly
	// increase per key forever. The default.
	ScopeQuorum Scope = iota
	// ScopeLocal holds the grant only in the memory of the server node that
	// granted it, without raft. It is cheaper (no replicated log write), and
	// it gives up:
	//   - durability: a restart or failover of that node forgets the lock, and
	//     the handle then reports it lost;
	//   - agreement: another node may grant the same key in local scope at
	//     the same time, so it excludes only clients of the same node;
	//   - fencing across restarts: tokens increase per key while the node
	//     runs and start from a time-derived base after a restart, so their
	//     order across restarts holds only as far as that node's clock moves
	//     forward; tokens of different nodes are unrelated.
	// A local and a quorum lock of the same key name are independent locks.
	ScopeLocal
)

func (s Scope) String() string {
	switch s {
	case ScopeQuorum:
		return "quorum"
	case ScopeLocal:
		return "local"
	}
	return "invalid"
}

func (s Scope) pb() lockpb.LockScope {
	if s == ScopeLocal {
		return lockpb.LockScope_LOCK_SCOPE_LOCAL
	}
	return lockpb.LockScope_LOCK_SCOPE_QUORUM
}

// Mode says how a key is held. The zero value is Exclusive.
type Mode int

const (
	// Exclusive excludes every other holder. AcquireLock and MultiLock take it.
	Exclusive Mode = iota
	// Shared shares the key with other Shared holders and excludes an
	// Exclusive one. AcquireReadLock takes it.
	Shared
)

func (m Mode) String() string {
	if m == Shared {
		return "shared"
	}
	return "exclusive"
}

func (m Mode) pb() lockpb.LockMode {
	if m == Shared {
		return lockpb.LockMode_LOCK_MODE_SHARED
	}
	return lockpb.LockMode_LOCK_MODE_EXCLUSIVE
}

func modeOf(m lockpb.LockMode) Mode {
	if m == lockpb.LockMode_LOCK_MODE_SHARED {
		return Shared
	}
	return Exclusive
}

// Config shapes one acquisition. The zero value is a one-try, 30-second,
// quorum lock.
type Config struct {
	// MaxWait is how long to wait for a contended key. 0 tries once and
	// fails at once with a server error of code "expired" when the key is
	// held. > 0 waits in FIFO order (a writer is not overtaken by readers
	// that arrive after it) for up to MaxWait, at most MaxMaxWait.
	// Cancelling the context abandons the wait and the server drops the
	// waiter.
	MaxWait time.Duration
	// LeaseTTL is how long the lease lives without renewal. 0 means
	// DefaultLeaseTTL (30s); otherwise between MinLeaseTTL (500ms) and
	// MaxLeaseTTL (1h), in whole milliseconds.
	LeaseTTL time.Duration
	// Scope is ScopeQuorum (the default) or ScopeLocal.
	Scope Scope
}

// ttl returns the effective TTL of c.
func (c Config) ttl() time.Duration {
	if c.LeaseTTL == 0 {
		return DefaultLeaseTTL
	}
	return c.LeaseTTL.Truncate(time.Millisecond)
}

func (c Config) validate() error {
	switch {
	case c.MaxWait < 0:
		return transport.Invalid("MaxWait", "must not be negative, got %v", c.MaxWait)
	case c.MaxWait > MaxMaxWait:
		return transport.Invalid("MaxWait", "must be at most %v, got %v", MaxMaxWait, c.MaxWait)
	case c.LeaseTTL < 0:
		return transport.Invalid("LeaseTTL", "must not be negative, got %v", c.LeaseTTL)
	case c.LeaseTTL != 0 && c.LeaseTTL < MinLeaseTTL:
		return transport.Invalid("LeaseTTL", "must be 0 (default %v) or at least %v, got %v", DefaultLeaseTTL, MinLeaseTTL, c.LeaseTTL)
	case c.LeaseTTL > MaxLeaseTTL:
		return transport.Invalid("LeaseTTL", "must be at most %v, got %v", MaxLeaseTTL, c.LeaseTTL)
	case c.Scope != ScopeQuorum && c.Scope != ScopeLocal:
		return transport.Invalid("Scope", "must be ScopeQuorum or ScopeLocal, got %d", int(c.Scope))
	}
	return nil
}

func validateKey(field, key string) error {
	switch {
	case key == "":
		return transport.Invalid(field, "must not be empty")
	case len(key) > MaxKeyLen:
		return transport.Invalid(field, "is %d bytes, limit %d", len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return transport.Invalid(field, "must be valid UTF-8")
	}
	return nil
}

func validateKeys(keys []string) error {
	if len(keys) == 0 {
		return transport.Invalid("keys", "must not be empty")
	}
	if len(keys) > MaxKeys {
		return transport.Invalid("keys", "has %d keys, limit %d", len(keys), MaxKeys)
	}
	seen := make(map[string]struct{}, len(keys))
	for i, k := range keys {
		if err := validateKey("keys["+strconv.Itoa(i)+"]", k); err != nil {
			return err
		}
		if _, dup := seen[k]; dup {
			return transport.Invalid("keys", "key %q appears twice", k)
		}
		seen[k] = struct{}{}
	}
	return nil
}

// newRequestID returns the client-made identity of one acquisition: a
// random (version 4) UUID.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// MaxTokenLen bounds a presented bearer token; a longer one is refused
// before it is hashed.
const MaxTokenLen = 4096

// MaxTokensFileSize bounds the tokens file.
const MaxTokensFileSize = 16 << 20

// HashToken returns the tokens file's form of token: "sha256:<64 hex>".
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseTokens parses a tokens file: one "user: sha256:<64 hex>" a line;
// blank lines and lines starting with '#' are skipped. A user may have
// several tokens (one line each, for rotation); one hash names one user.
// Errors name the line and never quote a hash.
func ParseTokens(data []byte) (map[[32]byte]string, error) {
	out := map[[32]byte]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(s, ":")
		user, hash = strings.TrimSpace(user), strings.TrimSpace(hash)
		if !ok || user == "" {
			return nil, fmt.Errorf("tokens file line %d: want \"user: sha256:<64 hex digits>\" (waymakerd hash-token makes one)", line)
		}
		if strings.ContainsAny(user, ":") {
			return nil, fmt.Errorf("tokens file line %d: a user name cannot hold ':'", line)
		}
		if err := CheckIdentity(user); err != nil {
			return nil, fmt.Errorf("tokens file line %d: %v", line, err)
		}
		hexs, ok := strings.CutPrefix(hash, "sha256:")
		if !ok {
			return nil, fmt.Errorf("tokens file line %d: the hash must start with sha256: (store hashes, never tokens; waymakerd hash-token makes one)", line)
		}
		b, err := hex.DecodeString(hexs)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("tokens file line %d: want 64 hex digits after \"sha256:\"", line)
		}
		var k [32]byte
		copy(k[:], b)
		if prev, dup := out[k]; dup && prev != user {
			return nil, fmt.Errorf("tokens file line %d: the same token hash is already given to another user", line)
		}
		out[k] = user
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokens file line %d: %v", line+1, err)
	}
	if len(out) == 0 {
		// Most often a file caught half-written; a server that should
		// accept no token is started without --auth-tokens.
		return nil, fmt.Errorf("tokens file holds no token")
	}
	return out, nil
}

// Tokens is the set of valid bearer tokens, loaded from a file and
// reloaded when the file changes (its modification time or size). A file
// that stops parsing (or holds no token) is reported and the previous set
// kept. Replace the file atomically (write a new one, rename it over).
type Tokens struct {
	path string
	log  *zap.Logger
	set  atomic.Pointer[map[[32]byte]string]

	mu       sync.Mutex
	mod      time.Time
	size     int64
	reloaded chan struct{} // closed and replaced after each reload attempt
}

// LoadTokens reads path, failing when it is missing or does not parse.
func LoadTokens(path string, log *zap.Logger) (*Tokens, error) {
	t := &Tokens{path: path, log: log, reloaded: make(chan struct{})}
	if err := t.load(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tokens) load() error {
	fi, err := os.Stat(t.path)
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	if fi.Size() > MaxTokensFileSize {
		return fmt.Errorf("tokens file %s is %d bytes, limit %d", t.path, fi.Size(), MaxTokensFileSize)
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	set, err := ParseTokens(data)
	t.mu.Lock()
	t.mod, t.size = fi.ModTime(), fi.Size()
	t.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", t.path, err)
	}
	t.set.Store(&set)
	return nil
}

// Lookup returns the user of token, or false. The token is hashed first,
// so the lookup's time does not depend on how much of a valid token a
// guess got right.
func (t *Tokens) Lookup(token string) (string, bool) {
	if len(token) > MaxTokenLen {
		return "", false
	}
	k := sha256.Sum256([]byte(token))
	user, ok := (*t.set.Load())[k]
	return user, ok
}

// Len is the number of tokens loaded.
func (t *Tokens) Len() int { return len(*t.set.Load()) }

// Reloaded returns a channel closed after the next reload attempt.
func (t *Tokens) Reloaded() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reloaded
}

// Watch polls the file every interval until ctx ends, reloading it when
// its modification time or size changed.
func (t *Tokens) Watch(ctx context.Context, interval time.Duration) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		fi, err := os.Stat(t.path)
		t.mu.Lock()
		same := err == nil && fi.ModTime().Equal(t.mod) && fi.Size() == t.size
		t.mu.Unlock()
		if same {
			continue
		}
		if err := t.load(); err != nil {
			t.log.Error("tokens file not reloaded; keeping the previous tokens", zap.Error(err))
		} else {
			t.log.Info("tokens file reloaded", zap.String("path", t.path), zap.Int("tokens", t.Len()))
		}
		t.mu.Lock()
		close(t.reloaded)
		t.reloaded = make(chan struct{})
		t.mu.Unlock()
	}
}

// EqualSecret compares two secrets in constant time (for the node token).
func EqualSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

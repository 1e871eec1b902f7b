package kv

import (
	"strings"

	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Limits the client checks before sending anything.
const (
	// MaxKeyLen is the longest key, in bytes.
	MaxKeyLen = 1024
	// MaxBucketNameLen is the longest bucket name, in bytes.
	MaxBucketNameLen = transport.MaxNameLen
	// DefaultMaxValueSize is the server's default value limit.
	DefaultMaxValueSize = 1 << 20
)

func invalid(field, format string, args ...any) error {
	return transport.Invalid(field, format, args...)
}

func checkBucket(field, name string) error {
	return transport.CheckName(field, name)
}

func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '=' || c == '/' || c == '-' || c == '.'
}

// ValidKey reports whether key is acceptable: dot-separated tokens of
// [A-Za-z0-9_=/.-], no leading, trailing or double dot, 1 to 1024 bytes.
func ValidKey(key string) bool { return checkKey(key) == nil }

func checkKey(key string) error {
	if key == "" {
		return invalid("key", "must not be empty")
	}
	if len(key) > MaxKeyLen {
		return invalid("key", "is %d bytes, limit %d", len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return invalid("key", "%q must contain only [A-Za-z0-9_=/.-]", key)
		}
	}
	if key[0] == '.' || key[len(key)-1] == '.' {
		return invalid("key", "%q must not begin or end with a dot", key)
	}
	if strings.Contains(key, "..") {
		return invalid("key", "%q must not contain a double dot", key)
	}
	return nil
}

// checkPattern accepts "" and ">" (every key), and dot-separated tokens
// that are key tokens, "*" (exactly one token) or, last, ">" (one or more).
func checkPattern(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > MaxKeyLen {
		return invalid("pattern", "is %d bytes, limit %d", len(p), MaxKeyLen)
	}
	toks := strings.Split(p, ".")
	for i, tok := range toks {
		switch {
		case tok == "":
			return invalid("pattern", "%q must not contain an empty token", p)
		case tok == "*":
		case tok == ">":
			if i != len(toks)-1 {
				return invalid("pattern", "%q: \">\" must be the last token", p)
			}
		default:
			for j := 0; j < len(tok); j++ {
				if !keyByte(tok[j]) {
					return invalid("pattern", "%q: tokens are [A-Za-z0-9_=/-], * or >", p)
				}
			}
		}
	}
	return nil
}

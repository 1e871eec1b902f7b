package kv

import (
	"strings"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// MaxHistory is the most entries a bucket may keep per key.
const MaxHistory = 64

// MaxBucketNameLen bounds a bucket name, in bytes.
const MaxBucketNameLen = 256

func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '=' || c == '/' || c == '-' || c == '.'
}

// CheckKey checks a key (field): dot-separated tokens of [A-Za-z0-9_=/.-],
// no leading, trailing or double dot, at most max bytes. It answers the
// invalid_argument Result naming field, or nil.
func CheckKey(field, key string, max int) *commonpb.Result {
	if key == "" {
		return result.Invalid(field, "must not be empty")
	}
	if len(key) > max {
		return result.Invalid(field, "is longer than the limit")
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return result.Invalid(field, "must contain only [A-Za-z0-9_=/.-]")
		}
	}
	if key[0] == '.' || key[len(key)-1] == '.' {
		return result.Invalid(field, "must not begin or end with a dot")
	}
	if strings.Contains(key, "..") {
		return result.Invalid(field, "must not contain an empty token (double dot)")
	}
	return nil
}

// CheckPattern checks a watch or keys pattern (field). An empty pattern
// means ">" and is valid. Tokens are key tokens, "*" (exactly one token)
// or, last only, ">" (one or more tokens). It answers the invalid_argument
// Result naming field, or nil.
func CheckPattern(field, p string, max int) *commonpb.Result {
	if p == "" {
		return nil
	}
	if len(p) > max {
		return result.Invalid(field, "is longer than the limit")
	}
	for i, tok := range strings.Split(p, ".") {
		switch {
		case tok == "":
			return result.Invalid(field, "must not contain an empty token")
		case tok == "*":
		case tok == ">":
			if i != strings.Count(p, ".") {
				return result.Invalid(field, `">" must be the last token`)
			}
		default:
			for j := 0; j < len(tok); j++ {
				if !keyByte(tok[j]) {
					return result.Invalid(field, "must contain only [A-Za-z0-9_=/.-] tokens, * or >")
				}
			}
		}
	}
	return nil
}

// Match reports whether key matches pattern ("" and ">" match every key).
// It allocates nothing.
func Match(pattern, key string) bool {
	if pattern == "" || pattern == ">" {
		return true
	}
	for {
		pi := strings.IndexByte(pattern, '.')
		pt := pattern
		if pi >= 0 {
			pt = pattern[:pi]
		}
		if pt == ">" {
			return key != ""
		}
		ki := strings.IndexByte(key, '.')
		kt := key
		if ki >= 0 {
			kt = key[:ki]
		}
		if pt != "*" && pt != kt {
			return false
		}
		if pi < 0 || ki < 0 {
			return pi < 0 && ki < 0
		}
		pattern, key = pattern[pi+1:], key[ki+1:]
	}
}

// literal reports whether a pattern has no wildcard, so that it names one
// key and a lookup replaces a scan.
func literal(p string) bool {
	return p != "" && !strings.ContainsAny(p, "*>")
}

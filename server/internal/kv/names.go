package kv

import "strings"

// MaxHistory is the most entries a bucket may keep per key.
const MaxHistory = 64

// MaxBucketNameLen bounds a bucket name, in bytes.
const MaxBucketNameLen = 256

// CheckBucketName returns the rule a bucket name breaks, or "".
func CheckBucketName(name string, max int) string {
	if name == "" {
		return "must not be empty"
	}
	if len(name) > max {
		return "is longer than the limit"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "must contain only [A-Za-z0-9_-]"
		}
	}
	return ""
}

func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '=' || c == '/' || c == '-' || c == '.'
}

// CheckKey returns the rule a key breaks, or "": dot-separated tokens of
// [A-Za-z0-9_=/.-], no leading, trailing or double dot, at most max bytes.
func CheckKey(key string, max int) string {
	if key == "" {
		return "must not be empty"
	}
	if len(key) > max {
		return "is longer than the limit"
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return "must contain only [A-Za-z0-9_=/.-]"
		}
	}
	if key[0] == '.' || key[len(key)-1] == '.' {
		return "must not begin or end with a dot"
	}
	if strings.Contains(key, "..") {
		return "must not contain an empty token (double dot)"
	}
	return ""
}

// CheckPattern returns the rule a watch or keys pattern breaks, or "". An
// empty pattern means ">" and is valid. Tokens are key tokens, "*" (exactly
// one token) or, last only, ">" (one or more tokens).
func CheckPattern(p string, max int) string {
	if p == "" {
		return ""
	}
	if len(p) > max {
		return "is longer than the limit"
	}
	for i, tok := range strings.Split(p, ".") {
		switch {
		case tok == "":
			return "must not contain an empty token"
		case tok == "*":
		case tok == ">":
			if i != strings.Count(p, ".") {
				return `">" must be the last token`
			}
		default:
			for j := 0; j < len(tok); j++ {
				if !keyByte(tok[j]) {
					return "must contain only [A-Za-z0-9_=/.-] tokens, * or >"
				}
			}
		}
	}
	return ""
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

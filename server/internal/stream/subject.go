package stream

import (
	"fmt"
	"strings"
)

// Subjects are dot-separated, non-empty tokens. A filter (stream subjects,
// consumer filters, purge filters) may use `*` for exactly one token and `>`
// as its last token for one or more trailing tokens; a publish subject may
// not use either.

// CheckSubject reports why s is not a valid subject (wildcards allowed when
// filter is true), or "" when it is valid.
func CheckSubject(s string, filter bool) string {
	if s == "" {
		return "must not be empty"
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if c == '.' {
				// handled below
			} else if c <= ' ' || c == 0x7f {
				return "must not contain spaces or control characters"
			} else {
				continue
			}
		}
		tok := s[start:i]
		if tok == "" {
			return "has an empty token (leading, trailing or doubled '.')"
		}
		if strings.ContainsAny(tok, "*>") {
			if !filter {
				return "must not contain wildcards ('*', '>') in a publish subject"
			}
			if len(tok) != 1 {
				return fmt.Sprintf("wildcard must be a whole token, got %q", tok)
			}
			if tok == ">" && i != len(s) {
				return "'>' must be the last token"
			}
		}
		start = i + 1
	}
	return ""
}

// hasWildcard reports whether a valid filter contains `*` or `>`.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*>") }

// Match reports whether the literal subject matches filter. Both must be
// valid; it allocates nothing.
func Match(filter, subject string) bool {
	if !hasWildcard(filter) {
		return filter == subject
	}
	f, s := filter, subject
	for {
		ft, frest, fmore := cut(f)
		if ft == ">" {
			return s != ""
		}
		if s == "" {
			return false
		}
		st, srest, smore := cut(s)
		if ft != "*" && ft != st {
			return false
		}
		if !fmore || !smore {
			return fmore == smore
		}
		f, s = frest, srest
	}
}

// Overlap reports whether some literal subject matches both filters.
func Overlap(a, b string) bool {
	for {
		at, arest, amore := cut(a)
		bt, brest, bmore := cut(b)
		if at == ">" || bt == ">" {
			return true
		}
		if at != "*" && bt != "*" && at != bt {
			return false
		}
		if !amore || !bmore {
			return amore == bmore
		}
		a, b = arest, brest
	}
}

// cut splits the first token off s.
func cut(s string) (tok, rest string, more bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// CheckName reports why a stream or consumer name is invalid, or "".
func CheckName(s string, max int) string {
	if s == "" {
		return "must not be empty"
	}
	if len(s) > max {
		return fmt.Sprintf("is %d bytes, limit %d", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Sprintf("must be letters, digits, '_' or '-', got %q at byte %d", c, i)
		}
	}
	return ""
}

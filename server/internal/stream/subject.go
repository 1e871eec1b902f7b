package stream

import (
	"strings"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Subjects are dot-separated, non-empty tokens. A filter (stream subjects,
// consumer filters, purge filters) may use `*` for exactly one token and `>`
// as its last token for one or more trailing tokens; a publish subject may
// not use either.

// CheckSubject checks the subject s of field (wildcards allowed when filter
// is true): the invalid_argument Result naming field, or nil. It allocates
// nothing for a valid subject.
func CheckSubject(field, s string, filter bool) *commonpb.Result {
	if s == "" {
		return result.Invalid(field, "must not be empty")
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if c == '.' {
				// handled below
			} else if c <= ' ' || c == 0x7f {
				return result.Invalid(field, "must not contain spaces or control characters")
			} else {
				continue
			}
		}
		tok := s[start:i]
		if tok == "" {
			return result.Invalid(field, "has an empty token (leading, trailing or doubled '.')")
		}
		if strings.ContainsAny(tok, "*>") {
			if !filter {
				return result.Invalid(field, "must not contain wildcards ('*', '>') in a publish subject")
			}
			if len(tok) != 1 {
				return result.Invalidf(field, "wildcard must be a whole token, got %q", tok)
			}
			if tok == ">" && i != len(s) {
				return result.Invalid(field, "'>' must be the last token")
			}
		}
		start = i + 1
	}
	return nil
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

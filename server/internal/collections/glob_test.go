package collections

import (
	"strings"
	"testing"
)

// Redis's glob, case by case (what redis-cli answers for SCAN MATCH).
func TestGlobRedisSemantics(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		// Literals, '?', '*'.
		{"abc", "abc", true}, {"abc", "abcd", false}, {"abc", "ab", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"???", "abc", true}, {"???", "ab", false},
		{"*", "x", true}, {"**", "x", true}, {"a*", "a", true}, {"*a", "a", true}, {"*a*", "bab", true},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxcyyb", false}, {"a*a", "a", false}, {"a*a", "aa", true},
		{"*ab*ab*", "abab", true}, {"*ab*ab*", "aba", false}, {"*aab", "aaab", true},
		{"user:*:name", "user:17:name", true}, {"user:*:name", "user:17:mail", false},
		// Classes.
		{"[abc]", "b", true}, {"[abc]", "d", false}, {"[abc]", "ab", false},
		{"[^abc]", "d", true}, {"[^abc]", "a", false},
		{"[a-c]", "b", true}, {"[a-c]", "d", false}, {"[c-a]", "b", true}, // a range in either order
		{"[a-cx-z]", "y", true}, {"[a-cx-z]", "m", false},
		{"[^a-c]", "d", true}, {"[^a-c]", "b", false},
		{"[-a]", "-", true}, {"[a-]]", "^", true}, // "a-]" is the range ]..a
		{"[]", "a", false}, {"[]", "]", false}, // the first ']' closes: an empty class
		{"[^]", "x", true}, {"[^]", "]", true}, // the complement of the empty class
		{"[]]", "]]", false}, {"[]]", "]", false}, {"[]]x", "]x", false}, {"[]]", "", false},
		{"x[]]", "x]", false}, {"x[]", "x", false}, // "x", the empty class "[]", "]"
		// Escapes.
		{`\*`, "*", true}, {`\*`, "a", false}, {`\?`, "?", true}, {`\?`, "a", false},
		{`\[`, "[", true}, {`\\`, `\`, true}, {`\a`, "a", true},
		{`h\*llo`, "h*llo", true}, {`h\*llo`, "hello", false},
		{`[\]]`, "]", true}, {`[\^a]`, "^", true}, {`[\-]`, "-", true}, {`[a\-z]`, "b", false}, {`[a\-z]`, "-", true},
		{`[\\]`, `\`, true},
		// Bytes, not runes; case counts.
		{"?", "\xff", true}, {"??", "é", true}, {"[\x80-\xff]", "\xc3", true}, {"A", "a", false},
		{"*\x00*", "a\x00b", true},
	} {
		if CheckGlob("match", c.p) != nil {
			t.Errorf("%q reported malformed", c.p)
			continue
		}
		if got := Glob(c.p, c.s); got != c.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
		if c.s != "" {
			if ref := redisMatch(c.p, c.s); ref != c.want {
				t.Errorf("reference(%q, %q) = %v, want %v", c.p, c.s, ref, c.want)
			}
		}
	}
}

// Patterns Redis reads by running off their end are refused.
func TestGlobMalformed(t *testing.T) {
	for _, p := range []string{"[", "[abc", "a[^", "[^", `abc\`, `\`, `[\]`, "[a-]", "[a-", `[\`} {
		if CheckGlob("match", p) == nil {
			t.Errorf("%q accepted", p)
		}
		if Glob(p, "x") || Glob(p, "[abc") {
			t.Errorf("malformed %q matched", p)
		}
	}
	_, err := compileGlob("[abc")
	if err == nil || !strings.Contains(err.Error(), "not closed") {
		t.Fatalf("error for an unclosed class: %v", err)
	}
}

// Long segments take the shift-and path; they agree with the reference.
func TestGlobLongSegments(t *testing.T) {
	a := strings.Repeat("a", 200)
	for _, c := range []struct {
		p, s string
	}{
		{"*" + a + "b*", strings.Repeat("a", 1000) + "b" + "xyz"},
		{"*" + a + "b*", strings.Repeat("a", 1000)},
		{"x*" + strings.Repeat("[ab]", 70) + "*y", "x" + strings.Repeat("ab", 40) + "y"},
		{"x*" + strings.Repeat("[ab]", 70) + "*y", "x" + strings.Repeat("ab", 30) + "cy"},
		{"*" + strings.Repeat("?", 64) + "z*", strings.Repeat("q", 63) + "z" + strings.Repeat("q", 64) + "z"},
		{"*" + strings.Repeat("?", 65) + "z*", strings.Repeat("q", 65) + "z"},
		{"*" + strings.Repeat("?", 65) + "z*", strings.Repeat("q", 64) + "z"},
		{"*" + strings.Repeat("a", 127) + "*", strings.Repeat("a", 127)},
		{"*" + strings.Repeat("a", 128) + "*", strings.Repeat("a", 127)},
	} {
		if got, ref := Glob(c.p, c.s), redisMatch(c.p, c.s); got != ref {
			t.Errorf("Glob(%.30q..., %.30q...) = %v, reference %v", c.p, c.s, got, ref)
		}
	}
}

// FuzzGlob compares the matcher with a transcription of Redis's own
// recursive matcher on every well-formed pattern and non-empty string (no
// member, field or key is empty).
func FuzzGlob(f *testing.F) {
	for _, seed := range [][2]string{
		{"*", "abc"}, {"a*b?c", "axxbyc"}, {"[a-c]*[^x]", "bzy"}, {`\*[\]]`, "*]"}, {"[]]", "]"},
		{"[^]*", "q"}, {"*a*a*a*b", "aaaaaaab"}, {"*" + strings.Repeat("a", 10) + "*", strings.Repeat("a", 12)},
		{"[a-]]", "^"}, {"h[ae-g]llo", "hfllo"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 256 || s == "" {
			return
		}
		g, err := compileGlob(p)
		if err != nil {
			return
		}
		if got, want := g.match(s), redisMatch(p, s); got != want {
			t.Fatalf("Glob(%q, %q) = %v, Redis's matcher answers %v", p, s, got, want)
		}
	})
}

// redisMatch transcribes the matcher of Redis 7 (stringmatchlen_impl in
// util.c, case-sensitive) over byte indices, as the reference for the fuzz
// target. It is polynomial thanks to Redis's skipLongerMatches flag.
func redisMatch(p, s string) bool {
	skip := false
	return redisMatchAt(p, 0, s, 0, &skip, 0)
}

func redisMatchAt(p string, pi int, s string, si int, skipLonger *bool, nesting int) bool {
	if nesting > 1000 {
		return false
	}
	at := func(i int) byte { // C strings end in NUL
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	for pi < len(p) && si < len(s) {
		switch p[pi] {
		case '*':
			for pi < len(p) && at(pi+1) == '*' {
				pi++
			}
			if len(p)-pi == 1 {
				return true
			}
			for si < len(s) {
				if redisMatchAt(p, pi+1, s, si, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				si++
			}
			*skipLonger = true
			return false
		case '?':
			si++
		case '[':
			pi++
			not := at(pi) == '^'
			if not {
				pi++
			}
			match := false
		class:
			for {
				switch {
				case at(pi) == '\\' && len(p)-pi >= 2:
					pi++
					if p[pi] == s[si] {
						match = true
					}
				case at(pi) == ']':
					break class
				case len(p)-pi == 0:
					pi--
					break class
				case len(p)-pi >= 3 && p[pi+1] == '-':
					lo, hi := p[pi], p[pi+2]
					if lo > hi {
						lo, hi = hi, lo
					}
					pi += 2
					if s[si] >= lo && s[si] <= hi {
						match = true
					}
				default:
					if p[pi] == s[si] {
						match = true
					}
				}
				pi++
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			si++
		case '\\':
			if len(p)-pi >= 2 {
				pi++
			}
			if p[pi] != s[si] {
				return false
			}
			si++
		default:
			if p[pi] != s[si] {
				return false
			}
			si++
		}
		pi++
		if si == len(s) {
			for at(pi) == '*' {
				pi++
			}
			break
		}
	}
	return pi == len(p) && si == len(s)
}

package auth

import (
	"strings"
	"testing"
)

// Any grant string either parses to one that prints back the same, or is
// refused; nothing panics, and Match terminates on every input.
func FuzzParseGrant(f *testing.F) {
	for _, s := range []string{"kv:orders-*:write", "lock:leader:*:write", "*:*:admin", "kv::read", ":", "a:b:c:d", "kv:" + strings.Repeat("*", 9) + ":read"} {
		f.Add(s, "orders-1")
	}
	f.Fuzz(func(t *testing.T, s, name string) {
		g, err := ParseGrant(s)
		if err != nil {
			return
		}
		if g.String() != s {
			t.Fatalf("ParseGrant(%q) prints back %q", s, g)
		}
		_ = Match(g.Pattern, name)
		if !Match(g.Pattern, strings.ReplaceAll(g.Pattern, "*", "")) {
			t.Fatalf("%q does not match itself without its stars", g.Pattern)
		}
	})
}

// A tokens file either parses into user/hash pairs or is refused with an
// error that quotes none of it.
func FuzzParseTokens(f *testing.F) {
	f.Add("alice: " + HashToken("t") + "\n")
	f.Add("# c\n\nbob: sha256:zz\n")
	f.Add("secret-token-in-the-clear\n")
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseTokens([]byte(s))
		if err != nil {
			for _, line := range strings.Split(s, "\n") {
				if l := strings.TrimSpace(line); len(l) > 12 && strings.Contains(err.Error(), l) {
					t.Fatalf("the error %q quotes the line %q", err, l)
				}
			}
			return
		}
		if len(set) == 0 {
			t.Fatal("an empty set parsed")
		}
	})
}

package result

import (
	"errors"
	"strings"
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// TestCheckNameMatchesTheClient: the server refuses exactly the names the
// SDK refuses before sending, with the same message.
func TestCheckNameMatchesTheClient(t *testing.T) {
	for _, name := range []string{
		"", "a", "orders", "A-Z_a-z-0-9", "with space", "dot.ted", "slash/", "nul\x00", "é", "\xff",
		strings.Repeat("n", transport.MaxNameLen), strings.Repeat("n", transport.MaxNameLen+1),
	} {
		r := CheckName("store", name, transport.MaxNameLen)
		err := transport.CheckName("store", name)
		if (r == nil) != (err == nil) {
			t.Errorf("%q: server %v, client %v", name, r, err)
			continue
		}
		if r == nil {
			continue
		}
		var te *transport.Error
		if !errors.As(err, &te) {
			t.Fatalf("%q: client error %T", name, err)
		}
		if r.GetResultCode() != CodeInvalidArgument || te.Code != r.GetResultCode() || te.Message != r.GetMessage() {
			t.Errorf("%q: server %q, client %q", name, r.GetMessage(), te.Message)
		}
	}
}

package transport

import (
	"strings"
	"testing"
)

// One address that is a DNS name is resolved by gRPC's DNS resolver and
// balanced over all its A records (a cluster behind one name); an IP or
// localhost is dialed as it is; several addresses are balanced over.
func TestDialTargetPerAddressKind(t *testing.T) {
	c := &Conn{opts: defaultOptions()}
	for _, tc := range []struct {
		addrs []string
		want  string
	}{
		{[]string{"waymaker.internal:8818"}, "dns:///waymaker.internal:8818"},
		{[]string{"10.0.0.1:8818"}, "passthrough:///10.0.0.1:8818"},
		{[]string{"[::1]:8818"}, "passthrough:///[::1]:8818"},
		{[]string{"localhost:8818"}, "passthrough:///localhost:8818"},
		{[]string{"10.0.0.1:8818", "10.0.0.2:8818"}, "waymaker:///servers"},
	} {
		got, _ := c.target(tc.addrs)
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("target(%q) = %q, want %q", tc.addrs, got, tc.want)
		}
	}
}

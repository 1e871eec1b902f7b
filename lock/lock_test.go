package lock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Client-side validation fails before anything is sent: the connection
// points nowhere, and every call still answers at once with Kind invalid.
func TestLockClientValidation(t *testing.T) {
	conn, err := transport.Dial(context.Background(), []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := New(conn)
	ctx := context.Background()
	cases := []struct {
		field string
		err   error
	}{
		{"key", func() error { _, err := c.Acquire(ctx, "", Config{}); return err }()},
		{"key", func() error { _, err := c.AcquireRead(ctx, strings.Repeat("x", MaxKeyLen+1), Config{}); return err }()},
		{"key", func() error { _, err := c.Acquire(ctx, "a\xffb", Config{}); return err }()},
		{"MaxWait", func() error { _, err := c.Acquire(ctx, "k", Config{MaxWait: -time.Millisecond}); return err }()},
		{"MaxWait", func() error { _, err := c.Acquire(ctx, "k", Config{MaxWait: 2 * time.Hour}); return err }()},
		{"LeaseTTL", func() error { _, err := c.Acquire(ctx, "k", Config{LeaseTTL: -1}); return err }()},
		{"LeaseTTL", func() error { _, err := c.Acquire(ctx, "k", Config{LeaseTTL: 499 * time.Millisecond}); return err }()},
		{"LeaseTTL", func() error {
			_, err := c.Acquire(ctx, "k", Config{LeaseTTL: MaxLeaseTTL + time.Millisecond})
			return err
		}()},
		{"Scope", func() error { _, err := c.Acquire(ctx, "k", Config{Scope: Scope(3)}); return err }()},
		{"keys", func() error { _, err := c.MultiLock(ctx, nil, Config{}); return err }()},
		{"keys", func() error { _, err := c.MultiLock(ctx, []string{"a", "b", "a"}, Config{}); return err }()},
		{"keys", func() error { _, err := c.MultiLock(ctx, make([]string, MaxKeys+1), Config{}); return err }()},
		{"keys[2]", func() error { _, err := c.MultiLock(ctx, []string{"a", "b", ""}, Config{}); return err }()},
		{"key", func() error { _, err := c.Inspect(ctx, "", ScopeQuorum); return err }()},
		{"scope", func() error { _, err := c.Inspect(ctx, "k", Scope(-1)); return err }()},
	}
	for i, tc := range cases {
		var e *transport.Error
		if !errors.As(tc.err, &e) || e.Kind != transport.KindInvalid || !strings.HasPrefix(e.Message, tc.field+": ") || !errors.Is(tc.err, transport.ErrInvalidArgument) {
			t.Errorf("case %d: %v, want invalid naming %s", i, tc.err, tc.field)
		}
	}
}

func TestLockRequestIDsAreUUIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if len(id) != 36 || id[14] != '4' || strings.Count(id, "-") != 4 || seen[id] {
			t.Fatalf("bad or repeated request id %q", id)
		}
		seen[id] = true
	}
}

func TestLockConfigDefaults(t *testing.T) {
	if (Config{}).ttl() != DefaultLeaseTTL {
		t.Fatal("zero LeaseTTL is not the default")
	}
	if (Config{LeaseTTL: 1500*time.Millisecond + 7}).ttl() != 1500*time.Millisecond {
		t.Fatal("TTL not truncated to whole milliseconds")
	}
	if ScopeQuorum.String() != "quorum" || ScopeLocal.String() != "local" || Shared.String() != "shared" || Exclusive.String() != "exclusive" {
		t.Fatal("names")
	}
}

package kv

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

// newOffline returns a client whose address accepts nothing: a call that
// reached the network would fail with Unavailable, so an "invalid" error
// proves nothing was sent.
func newOffline(t *testing.T) *Client {
	t.Helper()
	conn, err := transport.Dial(context.Background(), []string{"127.0.0.1:1"},
		transport.WithBackoff(transport.Backoff{MaxElapsed: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return New(conn)
}

func wantInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) || e.Kind != transport.KindInvalid || !strings.HasPrefix(e.Message, field+":") {
		t.Errorf("%s: %v, want Kind invalid naming %s", what, err, field)
	}
	if !errors.Is(err, transport.ErrInvalidArgument) {
		t.Errorf("%s: errors.Is(err, ErrInvalidArgument) = false", what)
	}
}

func TestValidationSendsNothing(t *testing.T) {
	c := newOffline(t)
	ctx := context.Background()
	b := &Bucket{c: c, name: "b", cfg: Config{Name: "b", MaxValueSize: 4}}
	for _, k := range []string{"", ".a", "a.", "a..b", "a b", "a*", "a>", "é", strings.Repeat("k", MaxKeyLen+1)} {
		_, err := b.Put(ctx, k, nil)
		wantInvalid(t, "Put "+k, err, "key")
		_, err = b.Get(ctx, k)
		wantInvalid(t, "Get "+k, err, "key")
		_, err = b.Create(ctx, k, nil)
		wantInvalid(t, "Create "+k, err, "key")
		_, err = b.Update(ctx, k, nil, 1)
		wantInvalid(t, "Update "+k, err, "key")
		_, err = b.Delete(ctx, k)
		wantInvalid(t, "Delete "+k, err, "key")
		_, err = b.Purge(ctx, k)
		wantInvalid(t, "Purge "+k, err, "key")
		_, err = b.History(ctx, k)
		wantInvalid(t, "History "+k, err, "key")
		if ValidKey(k) {
			t.Errorf("ValidKey(%q) = true", k)
		}
	}
	for _, k := range []string{"a", "a.b.c", "A-z_0=9/x", strings.Repeat("k", MaxKeyLen)} {
		if !ValidKey(k) {
			t.Errorf("ValidKey(%q) = false", k)
		}
	}
	_, err := b.Put(ctx, "k", []byte("12345"))
	wantInvalid(t, "oversized value", err, "value")
	_, err = b.GetRevision(ctx, "k", 0)
	wantInvalid(t, "GetRevision 0", err, "revision")
	for _, p := range []string{">.a", "a..b", "a*", ".", "a.>b", "a b"} {
		_, err := b.Watch(ctx, p)
		wantInvalid(t, "Watch "+p, err, "pattern")
		_, err = b.KeysMatching(ctx, p).Next()
		wantInvalid(t, "Keys "+p, err, "pattern")
	}
	for field, cfg := range map[string]Config{
		"Name":         {Name: "a.b"},
		"History":      {Name: "x", History: MaxHistory + 1},
		"TTL":          {Name: "x", TTL: -time.Second},
		"MaxValueSize": {Name: "x", MaxValueSize: -1},
		"MaxBytes":     {Name: "x", MaxBytes: -1},
		"Description":  {Name: "x", Description: strings.Repeat("d", 4097)},
	} {
		_, err := c.Create(ctx, cfg)
		wantInvalid(t, "Create "+field, err, field)
		_, err = c.GetOrCreate(ctx, cfg)
		wantInvalid(t, "GetOrCreate "+field, err, field)
	}
	for _, n := range []string{"", "a.b", "ä", strings.Repeat("n", MaxBucketNameLen+1)} {
		_, err := c.Open(ctx, n)
		wantInvalid(t, "Open "+n, err, "name")
		wantInvalid(t, "Delete "+n, c.Delete(ctx, n), "name")
	}
}

func TestEventZeroValueAndComparable(t *testing.T) {
	var zero Event
	if zero != (Event{}) || zero.Entry() != nil {
		t.Fatal("zero Event")
	}
	e := &Entry{Key: "k"}
	if (Event{Put: e}) == zero || (Event{InitialDone: true}) == zero || (Event{Delete: e}).Entry() != e {
		t.Fatal("non-zero events compare equal to zero")
	}
}

func TestConfigMapping(t *testing.T) {
	cfg := Config{Name: "n", Description: "d", History: 7, TTL: 1500 * time.Millisecond, MaxValueSize: 9, MaxBytes: 99}
	if got := configFromPB(cfg.toPB()); got != cfg {
		t.Fatalf("round trip %+v", got)
	}
	if ms := (Config{Name: "n", TTL: time.Microsecond}).toPB().TtlMs; ms != 1 {
		t.Fatalf("sub-millisecond TTL became %dms", ms)
	}
	if OpPut.String() != "PUT" || OpDelete.String() != "DELETE" || OpPurge.String() != "PURGE" || Operation(9).String() != "UNKNOWN" {
		t.Fatal("Operation strings")
	}
}

func TestWatchOnClosedConn(t *testing.T) {
	c := newOffline(t)
	_ = c.conn.Close()
	if _, err := c.Bucket("b").WatchAll(context.Background()); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Watch after Close: %v", err)
	}
}

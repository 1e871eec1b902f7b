package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"git.awesomike.com/pub/waymaker-client/go/objstore"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient dials an address nothing listens on: every call below must be
// refused before anything is sent.
func newClient(t *testing.T) *objstore.Client {
	t.Helper()
	conn, err := transport.Dial(context.Background(), []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return objstore.New(conn)
}

func wantInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	var werr *transport.Error
	if !errors.As(err, &werr) || werr.Kind != transport.KindInvalid || !errors.Is(err, transport.ErrInvalidArgument) {
		t.Fatalf("%s: got %v, want an invalid-kind error", what, err)
	}
	if !strings.HasPrefix(werr.Message, field) {
		t.Fatalf("%s: message %q does not name %q", what, werr.Message, field)
	}
}

func TestConfigValidation(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		cfg   objstore.Config
		field string
	}{
		{objstore.Config{}, "Name"},
		{objstore.Config{Name: "has space"}, "Name"},
		{objstore.Config{Name: strings.Repeat("a", 257)}, "Name"},
		{objstore.Config{Name: "ok", MaxBytes: -1}, "MaxBytes"},
		{objstore.Config{Name: "ok", TTL: -time.Second}, "TTL"},
		{objstore.Config{Name: "ok", TTL: time.Microsecond}, "TTL"},
		{objstore.Config{Name: "ok", ChunkSize: 1023}, "ChunkSize"},
		{objstore.Config{Name: "ok", ChunkSize: 1<<20 + 1}, "ChunkSize"},
		{objstore.Config{Name: "ok", ChunkSize: -5}, "ChunkSize"},
	} {
		_, err := c.CreateStore(ctx, tc.cfg)
		wantInvalid(t, "CreateStore", err, tc.field)
		_, err = c.GetOrCreateStore(ctx, tc.cfg)
		wantInvalid(t, "GetOrCreateStore", err, tc.field)
	}
	wantInvalid(t, "Store", func() error { _, err := c.Store(ctx, ""); return err }(), "name")
	wantInvalid(t, "DeleteStore", c.DeleteStore(ctx, "a/b"), "name")
}

func TestStoreOpsValidation(t *testing.T) {
	conn, err := transport.Dial(context.Background(), []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := objstore.New(conn).StoreHandle("s")
	ctx := context.Background()
	_, err = s.Put(ctx, objstore.ObjectMeta{Name: "x"}, nil)
	wantInvalid(t, "Put nil reader", err, "reader")
	_, err = s.Put(ctx, objstore.ObjectMeta{}, bytes.NewReader(nil))
	wantInvalid(t, "Put empty name", err, "meta.Name")
	_, err = s.PutBytes(ctx, "a\x00b", nil)
	wantInvalid(t, "PutBytes NUL", err, "meta.Name")
	_, err = s.PutBytes(ctx, "x", nil, objstore.WithSHA256([]byte{1, 2}))
	wantInvalid(t, "WithSHA256", err, "WithSHA256")
	_, err = s.PutBytes(ctx, "x", nil, objstore.WithSize(-3))
	wantInvalid(t, "WithSize", err, "WithSize")
	_, err = s.Get(ctx, strings.Repeat("n", 1025))
	wantInvalid(t, "Get long name", err, "name")
	_, err = s.Get(ctx, "x", objstore.WithReadAhead(0))
	wantInvalid(t, "WithReadAhead 0", err, "WithReadAhead")
	_, err = s.Get(ctx, "x", objstore.WithReadAhead(objstore.MaxReadAhead+1))
	wantInvalid(t, "WithReadAhead too many", err, "WithReadAhead")
	_, err = s.GetInfo(ctx, "\xff")
	wantInvalid(t, "GetInfo bad UTF-8", err, "name")
	_, err = s.UpdateMeta(ctx, "x", objstore.ObjectMeta{})
	wantInvalid(t, "UpdateMeta", err, "meta.Name")
	wantInvalid(t, "Delete", s.Delete(ctx, ""), "name")
	_, err = s.List(ctx, objstore.StartAfter("\x00"))
	wantInvalid(t, "List", err, "StartAfter")
}

package cache_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"git.awesomike.com/pub/waymaker-client/go/cache"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPolicyValidation(t *testing.T) {
	conn, err := transport.Dial(context.Background(), []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := cache.New(conn)
	ctx := context.Background()
	for _, tc := range []struct {
		p     cache.Policy
		field string
	}{
		{cache.Policy{MaxEntries: 1}, "Bucket"},
		{cache.Policy{Bucket: "a.b", MaxEntries: 1}, "Bucket"},
		{cache.Policy{Bucket: "b"}, "MaxEntries"},
		{cache.Policy{Bucket: "b", MaxEntries: -1}, "MaxEntries"},
		{cache.Policy{Bucket: "b", MaxBytes: -1}, "MaxBytes"},
		{cache.Policy{Bucket: "b", MaxEntries: 1, DefaultTTL: -time.Second}, "DefaultTTL"},
		{cache.Policy{Bucket: "b", MaxEntries: 1, DefaultTTL: time.Nanosecond}, "DefaultTTL"},
		{cache.Policy{Bucket: "b", MaxEntries: 1, Eviction: 7}, "Eviction"},
	} {
		_, err := c.AttachPolicy(ctx, tc.p)
		var werr *transport.Error
		if !errors.As(err, &werr) || werr.Kind != transport.KindInvalid || !strings.HasPrefix(werr.Message, tc.field) {
			t.Fatalf("AttachPolicy(%+v) = %v, want invalid naming %s", tc.p, err, tc.field)
		}
	}
	for _, err := range []error{
		c.DetachPolicy(ctx, ""),
		func() error { _, err := c.Stats(ctx, "x y"); return err }(),
		func() error { _, err := c.Policy(ctx, ""); return err }(),
	} {
		if !errors.Is(err, transport.ErrInvalidArgument) {
			t.Fatalf("bad bucket = %v, want invalid", err)
		}
	}
}

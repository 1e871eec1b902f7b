package collections

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every bad argument fails before anything is sent: the Conn points at an
// address nothing listens on, so a call that reached the network would fail
// with an rpc error instead.
func TestInvalidArgumentsAreRefusedLocally(t *testing.T) {
	ctx := context.Background()
	conn, err := transport.Dial(ctx, []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := New(conn)
	h, s, q := c.hashStore("h"), c.setStore("s"), c.queue("q")
	for _, tc := range []struct {
		field string
		err   error
	}{
		{"cfg.Name", second(c.CreateHashStore(ctx, HashStoreConfig{}))},
		{"cfg.Name", second(c.CreateSetStore(ctx, SetStoreConfig{Name: strings.Repeat("x", 257)}))},
		{"cfg.MaxBytes", second(c.CreateSetStore(ctx, SetStoreConfig{Name: "s", MaxBytes: -1}))},
		{"cfg.Name", second(c.GetOrCreateQueue(ctx, QueueConfig{Name: "a/b"}))},
		{"cfg.Retention", second(c.CreateQueue(ctx, QueueConfig{Name: "q", Retention: -1}))},
		{"cfg.MaxReceiveCount", second(c.CreateQueue(ctx, QueueConfig{Name: "q", MaxReceiveCount: -1}))},
		{"name", second(c.HashStore(ctx, ""))},
		{"name", c.DeleteStore(ctx, "")},
		{"key", second(h.Set(ctx, "", map[string][]byte{"f": nil}))},
		{"fields", second(h.Set(ctx, "k", map[string][]byte{"": nil}))},
		{"fields", second(h.MGet(ctx, "k"))},
		{"field", second(h.SetNX(ctx, "k", "", nil))},
		{"delta", second(h.IncrByFloat(ctx, "k", "f", math.Inf(1)))},
		{"cond", second(h.ExpireIf(ctx, "k", time.Second, ExpireCondition(9), "f"))},
		{"ttl", second(h.Expire(ctx, "k", -1, "f"))},
		{"fields", second(h.TTL(ctx, "k"))},
		{"opts.Count", second3(h.ScanKeys(ctx, "", ScanOptions{Count: -1}))},
		{"keys", second(h.DeleteKeys(ctx))},
		{"members", second(s.Add(ctx, "k", "a", ""))},
		{"member", second(s.IsMember(ctx, "k", ""))},
		{"count", second(s.RandMember(ctx, "k", 1_000_000))},
		{"destination", second(s.UnionStore(ctx, "", "a"))},
		{"source", second(s.Move(ctx, "", "b", "m"))},
		{"wait", second(q.Pop(ctx, -time.Millisecond))},
		{"max", second(q.PopBatch(ctx, 0, 1001))},
		{"WithID", second(q.Push(ctx, nil, WithID("\xff")))},
		{"WithAttributes", second(q.Push(ctx, nil, WithAttributes(map[string]string{"": "v"})))},
		{"receipt", q.Ack(ctx, "")},
		{"d", second(q.ExtendVisibility(ctx, "r", -time.Second))},
		{"n", second(q.Peek(ctx, 1001))},
	} {
		var werr *transport.Error
		if !errors.As(tc.err, &werr) || werr.Kind != transport.KindInvalid || !strings.HasPrefix(werr.Message, tc.field+":") {
			t.Errorf("%s: got %v, want a local invalid error naming it", tc.field, tc.err)
		}
		if !errors.Is(tc.err, transport.ErrInvalidArgument) {
			t.Errorf("%s: errors.Is(ErrInvalidArgument) = false", tc.field)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func second3[A, B any](_ A, _ B, err error) error { return err }

func TestDurationsRoundUp(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 0}, {-time.Second, 0}, {time.Microsecond, 1}, {time.Millisecond, 1}, {1500 * time.Microsecond, 2}, {time.Minute, 60000}} {
		if got := ms(c.d); got != c.want {
			t.Errorf("ms(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

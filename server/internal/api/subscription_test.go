package api

import (
	"strings"
	"testing"
)

func TestSubscriptionLimits(t *testing.T) {
	d := DefaultLimits()
	if d.SubscriptionBuffer != 256 || d.SubscriptionBufferBytes != 1<<20 {
		t.Fatalf("defaults %d events, %d bytes; want 256, 1 MiB", d.SubscriptionBuffer, d.SubscriptionBufferBytes)
	}
	if n, b := subscriptionBatch(Limits{}); n != 256 || b != 1<<20 {
		t.Fatalf("unset limits batch %d, %d", n, b)
	}
	if n, b := subscriptionBatch(Limits{SubscriptionBuffer: 3, SubscriptionBufferBytes: 10}); n != 3 || b != 10 {
		t.Fatalf("batch %d, %d; want 3, 10", n, b)
	}
	for _, l := range []Limits{{SubscriptionBuffer: 10001}, {SubscriptionBuffer: -1}, {SubscriptionBufferBytes: -1}} {
		err := l.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), "SubscriptionBuffer") {
			t.Fatalf("%+v: Validate = %v, want an error naming the field", l, err)
		}
	}
	if err := (Limits{SubscriptionBuffer: 10000}).WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
}

// Held counts what each subscription adds and gives back, and a nil
// Subscriptions counts nothing.
func TestSubscriptionsHeld(t *testing.T) {
	var s Subscriptions
	a, b := held{s: &s}, held{s: &s}
	a.add(3, 30)
	b.add(2, 5)
	a.done(10)
	if e, by := s.Held(); e != 4 || by != 25 {
		t.Fatalf("held %d, %d; want 4, 25", e, by)
	}
	a.release()
	b.release()
	if e, by := s.Held(); e != 0 || by != 0 {
		t.Fatalf("after release %d, %d", e, by)
	}
	n := held{}
	n.add(1, 1)
	n.release()
	if e, _ := (*Subscriptions)(nil).Held(); e != 0 {
		t.Fatal("nil Subscriptions holds something")
	}
}

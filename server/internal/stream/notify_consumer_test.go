package stream

import (
	"testing"

	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/notify"
)

func fired(w *notify.Waiter[string]) bool {
	select {
	case <-w.C():
		return true
	default:
		return false
	}
}

// rearm takes a waiter's fire (Wait returns at once after one).
func rearm(t *testing.T, w *notify.Waiter[string]) {
	t.Helper()
	if err := w.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A consumer's delivery loop wakes for what changes its own work and for
// what changes the stream, and not for another consumer's acks: with many
// consumers on a stream, an ack costs one wake-up, not one per consumer.
func TestConsumerWaitersWakeForTheirConsumerAndStreamOnly(t *testing.T) {
	m := New()
	apply(t, m, OpCreateStream, 1000, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "ev"}})
	for _, c := range []string{"a", "b"} {
		apply(t, m, OpCreateConsumer, 1000, &sp.StreamServiceCreateConsumerRequest{Stream: "ev", Config: &sp.ConsumerConfig{DurableName: c}})
	}
	wa, wb := m.WatchConsumer("ev", "a"), m.WatchConsumer("ev", "b")
	defer wa.Stop()
	defer wb.Stop()

	apply(t, m, OpPublish, 1001, pub("ev.x", ""))
	if !fired(wa) || !fired(wb) {
		t.Fatalf("a publish woke a=%v b=%v, want both", fired(wa), fired(wb))
	}
	rearm(t, wa)
	rearm(t, wb)

	d := apply(t, m, OpDeliver, 1002, &sp.StreamServiceFetchRequest{Stream: "ev", Consumer: "a", Batch: 1}).(*sp.StreamServiceFetchResponse)
	if len(d.GetMsgs()) != 1 {
		t.Fatalf("deliver = %v", d)
	}
	apply(t, m, OpAck, 1003, &sp.StreamServiceAckRequest{Stream: "ev", Consumer: "a", Items: []*sp.StreamAckItem{{StreamSeq: 1, NumDelivered: 1}}})
	if !fired(wa) {
		t.Fatal("a's ack did not wake a's waiter")
	}
	if fired(wb) {
		t.Fatal("a's ack woke b's waiter")
	}
	rearm(t, wa)

	apply(t, m, OpCreateConsumer, 1004, &sp.StreamServiceCreateConsumerRequest{Stream: "ev", Config: &sp.ConsumerConfig{DurableName: "c"}})
	apply(t, m, OpDeleteConsumer, 1005, &sp.StreamServiceDeleteConsumerRequest{Stream: "ev", Consumer: "c"})
	if fired(wa) || fired(wb) {
		t.Fatal("another consumer's create or delete woke a waiter")
	}
	wc := m.WatchConsumer("ev", "b")
	defer wc.Stop()
	apply(t, m, OpDeleteConsumer, 1006, &sp.StreamServiceDeleteConsumerRequest{Stream: "ev", Consumer: "b"})
	if !fired(wc) || fired(wa) {
		t.Fatal("deleting b must wake b's waiters only")
	}

	apply(t, m, OpDeleteStream, 1007, &sp.StreamServiceDeleteStreamRequest{Stream: "ev"})
	if !fired(wa) {
		t.Fatal("deleting the stream did not wake its consumer's waiter")
	}
}

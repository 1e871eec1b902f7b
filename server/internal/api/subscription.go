package api

import (
	"sync/atomic"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

// What one subscription may hold between a state machine and gRPC (see
// Limits.SubscriptionBuffer).
const (
	DefaultSubscriptionBuffer      = 256
	DefaultSubscriptionBufferBytes = 1 << 20
	maxSubscriptionBuffer          = 10000
)

// Subscriptions counts what the server's watch and delivery streams hold
// now: events read from a state machine that gRPC has not yet taken.
//
// Those streams are pulled, not pushed: apply only fires a notify signal,
// and each stream's handler reads a batch (at most Limits.SubscriptionBuffer
// events and SubscriptionBufferBytes bytes) from the machine when gRPC has
// taken the previous one. A reader that stops reading leaves its handler
// waiting in gRPC's flow control (its per-stream write quota, 64 KiB, and
// the HTTP/2 window) holding at most one batch; nothing queues up for it,
// and writers and other readers go on. When it reads again it goes on from
// where it stopped, as long as the bucket's change log or history still has
// the changes since (else the watch ends "compacted", naming the revision
// it can resume from). The zero value is ready; a nil *Subscriptions counts
// nothing.
type Subscriptions struct {
	events, bytes atomic.Int64
}

// Held answers the events and bytes the subscriptions hold now.
func (s *Subscriptions) Held() (events, bytes int64) {
	if s == nil {
		return 0, 0
	}
	return s.events.Load(), s.bytes.Load()
}

// Gauges reports Held as the metrics' gauges.
func (s *Subscriptions) Gauges() []fsm.Gauge {
	events, bytes := s.Held()
	return []fsm.Gauge{
		{Name: "subscription_held_events", Help: "Events watch and delivery streams have read for their clients and gRPC has not yet taken (at most Limits.SubscriptionBuffer per stream).", Value: float64(events)},
		{Name: "subscription_held_bytes", Help: "Size of those events, keys, values and payloads (at most Limits.SubscriptionBufferBytes per stream, past its first event).", Value: float64(bytes)},
	}
}

// held is one subscription's share of the count: add what a batch read
// holds, done as gRPC takes each event, release what is left at the end.
type held struct {
	s             *Subscriptions
	events, bytes int64
}

func (h *held) add(events int, bytes int64) {
	if h.s == nil {
		return
	}
	h.events += int64(events)
	h.bytes += bytes
	h.s.events.Add(int64(events))
	h.s.bytes.Add(bytes)
}

func (h *held) done(bytes int64) { h.add(-1, -bytes) }

func (h *held) release() { h.add(int(-h.events), -h.bytes) }

// subscriptionBatch answers how many events, and bytes past the first, one
// read of a subscription may take (l's, or the defaults where unset).
func subscriptionBatch(l Limits) (int, int64) {
	n, b := l.SubscriptionBuffer, l.SubscriptionBufferBytes
	if n <= 0 {
		n = DefaultSubscriptionBuffer
	}
	if b <= 0 {
		b = DefaultSubscriptionBufferBytes
	}
	return min(n, maxSubscriptionBuffer), int64(b)
}

package transport

import (
	"testing"
	"time"
)

func TestLatchReleasesWaitersOnceOpen(t *testing.T) {
	var l Latch
	released := make(chan struct{})
	go func() {
		l.Wait()
		close(released)
	}()
	select {
	case <-released:
		t.Fatal("Wait returned before Open")
	default:
	}
	l.Open()
	l.Open() // harmless
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Open")
	}
	l.Wait() // an open latch does not block
	var never Latch
	never.Open()
	never.Wait()
	if never.ch != nil {
		t.Fatal("a latch nobody waited on made a channel")
	}
}

package api

import "testing"

func TestTrackerOrder(t *testing.T) {
	lru := newTracker(0, false)
	lfu := newTracker(0, true)
	for _, tr := range []*tracker{lru, lfu} {
		tr.touch("a", 2)
		tr.touch("b", 2)
		tr.touch("a", -1)
		tr.touch("a", -1)
		tr.touch("c", 3)
		tr.touch("b", -1)
	}
	if n, _ := lru.coldest(); n.key != "a" {
		t.Fatalf("LRU coldest %s, want a", n.key)
	}
	if n, _ := lfu.coldest(); n.key != "c" {
		t.Fatalf("LFU coldest %s, want c", n.key)
	}
	lru.remove("a")
	if lru.bytes != 5 || len(lru.nodes) != 2 {
		t.Fatalf("after remove: %d bytes, %d nodes", lru.bytes, len(lru.nodes))
	}
}

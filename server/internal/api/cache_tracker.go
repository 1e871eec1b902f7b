package api

import "container/heap"

// tracker is the leader's view of one cached bucket's use: every live key
// it knows of, how recently and how often it was used, and the total size
// of keys and values. It lives only in the service (reads never reach the
// raft log), is rebuilt from the KV state when the policy changes or after
// a restart, and only ever proposes evictions: the applied eviction is what
// every replica agrees on.
type tracker struct {
	attachedAt int64 // of the policy it was built for
	lfu        bool
	clock      uint64
	nodes      map[string]*node
	heap       nodeHeap
	bytes      int64
	hits       int64
	misses     int64
}

type node struct {
	key   string
	size  int64 // len(key) + len(value)
	count uint64
	seq   uint64 // last use
	idx   int
}

func newTracker(attachedAt int64, lfu bool) *tracker {
	t := &tracker{attachedAt: attachedAt, lfu: lfu, nodes: map[string]*node{}}
	t.heap.lfu = lfu
	return t
}

// touch records a use of key (a read hit, or a write of size bytes when
// size >= 0).
func (t *tracker) touch(key string, size int64) {
	t.clock++
	n := t.nodes[key]
	if n == nil {
		if size < 0 {
			return // a read of a key the tracker does not know: nothing to size
		}
		n = &node{key: key, size: size, count: 1, seq: t.clock}
		t.nodes[key] = n
		t.bytes += size
		heap.Push(&t.heap, n)
		return
	}
	if size >= 0 {
		t.bytes += size - n.size
		n.size = size
	}
	n.count++
	n.seq = t.clock
	heap.Fix(&t.heap, n.idx)
}

// add records a key present before tracking began, as older than any use.
func (t *tracker) add(key string, size int64, seq uint64) {
	n := &node{key: key, size: size, seq: seq}
	t.nodes[key] = n
	t.bytes += size
	heap.Push(&t.heap, n)
	t.clock = max(t.clock, seq)
}

// restore puts back a node taken out by remove, with its use counts.
func (t *tracker) restore(n *node) {
	t.nodes[n.key] = n
	t.bytes += n.size
	heap.Push(&t.heap, n)
}

func (t *tracker) remove(key string) {
	n := t.nodes[key]
	if n == nil {
		return
	}
	delete(t.nodes, key)
	t.bytes -= n.size
	heap.Remove(&t.heap, n.idx)
}

// coldest returns the key to evict first, or false.
func (t *tracker) coldest() (*node, bool) {
	if len(t.heap.nodes) == 0 {
		return nil, false
	}
	return t.heap.nodes[0], true
}

type nodeHeap struct {
	lfu   bool
	nodes []*node
}

func (h *nodeHeap) Len() int { return len(h.nodes) }
func (h *nodeHeap) Less(i, j int) bool {
	a, b := h.nodes[i], h.nodes[j]
	if h.lfu && a.count != b.count {
		return a.count < b.count
	}
	return a.seq < b.seq
}
func (h *nodeHeap) Swap(i, j int) {
	h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i]
	h.nodes[i].idx, h.nodes[j].idx = i, j
}
func (h *nodeHeap) Push(x any) {
	n := x.(*node)
	n.idx = len(h.nodes)
	h.nodes = append(h.nodes, n)
}
func (h *nodeHeap) Pop() any {
	n := h.nodes[len(h.nodes)-1]
	h.nodes = h.nodes[:len(h.nodes)-1]
	return n
}

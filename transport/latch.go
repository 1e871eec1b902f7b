package transport

import "sync"

// Latch is a one-way signal: Wait returns once Open has been called. Its
// channel is made only when a Wait has to block, so something that keeps a
// Latch for its end (a pump, a lock's renewal) costs no channel while
// nobody waits for that end. The zero value is a latch not yet open; a
// Latch must not be copied after first use.
type Latch struct {
	mu   sync.Mutex
	open bool
	ch   chan struct{} // made by the first Wait that blocks; closed by Open
}

// Open opens the latch, releasing every Wait. Safe to call more than once.
func (l *Latch) Open() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open {
		return
	}
	l.open = true
	if l.ch != nil {
		close(l.ch)
	}
}

// Wait blocks until the latch is open.
func (l *Latch) Wait() {
	l.mu.Lock()
	if l.open {
		l.mu.Unlock()
		return
	}
	if l.ch == nil {
		l.ch = make(chan struct{})
	}
	ch := l.ch
	l.mu.Unlock()
	<-ch
}

// isOpen reports whether Open has been called (for tests).
func (l *Latch) isOpen() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

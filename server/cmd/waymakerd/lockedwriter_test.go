package main

import (
	"bytes"
	"io"
	"sync"
)

// lockedWriter collects a child's output and closes seen once want appears.
type lockedWriter struct {
	mu   sync.Mutex
	w    io.Writer
	buf  bytes.Buffer
	want []byte
	seen chan struct{}
	once sync.Once
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if bytes.Contains(l.buf.Bytes(), l.want) {
		l.once.Do(func() { close(l.seen) })
	}
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

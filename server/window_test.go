package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
)

// frameCounter parses one direction of an HTTP/2 connection as it passes
// and counts the PING frames that ask for an answer (not ACKs).
type frameCounter struct {
	mu      sync.Mutex
	preface int // bytes of the client preface still to skip
	buf     []byte
	pings   int
	frames  int
}

func (f *frameCounter) feed(p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.preface > 0 {
		n := min(f.preface, len(p))
		f.preface -= n
		p = p[n:]
	}
	f.buf = append(f.buf, p...)
	for len(f.buf) >= 9 {
		n := int(f.buf[0])<<16 | int(binary.BigEndian.Uint16(f.buf[1:3]))
		if len(f.buf) < 9+n {
			return
		}
		if f.buf[3] == 0x6 && f.buf[4]&0x1 == 0 { // PING, no ACK flag
			f.pings++
		}
		f.frames++
		f.buf = f.buf[9+n:]
	}
}

func (f *frameCounter) counts() (pings, frames int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pings, f.frames
}

type countingConn struct {
	net.Conn
	in, out *frameCounter
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.feed(p[:n])
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.out.feed(p)
	return c.Conn.Write(p)
}

type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*countingConn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c, in: &frameCounter{preface: 24}, out: &frameCounter{}}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

func (l *countingListener) counts() (clientPings, serverPings, frames int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		p, f := c.in.counts()
		q, g := c.out.counts()
		clientPings += p
		serverPings += q
		frames += f + g
	}
	return clientPings, serverPings, frames
}

// One call at a time is the pattern where gRPC's bandwidth estimate costs
// most: with it on, each side sends a PING with the first DATA frame after
// the last answer, so every request and reply costs the peer another
// write. The SDK and the server fix their windows instead; 200 puts and
// gets, on sessions and on unary calls, send no PING either way (the
// SDK's keepalive pings only after 10 s without reads).
func TestCallsSendNoFlowControlPings(t *testing.T) {
	for _, sessions := range []bool{true, false} {
		t.Run(fmt.Sprintf("sessions=%v", sessions), func(t *testing.T) {
			s, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			lis := &countingListener{Listener: inner}
			served := make(chan error, 1)
			go func() { served <- s.Serve(lis) }()
			defer func() {
				s.Stop()
				if err := <-served; err != nil {
					t.Errorf("Serve: %v", err)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := waymaker.Connect(ctx, inner.Addr().String(), waymaker.WithSessions(sessions))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			b, err := c.KeyValue().Create(ctx, kv.Config{Name: "pings"})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				if _, err := b.Put(ctx, "k", []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
				if _, err := b.Get(ctx, "k"); err != nil {
					t.Fatal(err)
				}
			}
			cp, sp, frames := lis.counts()
			if frames < 800 {
				t.Fatalf("saw %d frames for 400 calls: the counter missed the traffic", frames)
			}
			if cp != 0 || sp != 0 {
				t.Fatalf("PINGs during 400 calls: %d from the client, %d from the server; want none", cp, sp)
			}
		})
	}
}

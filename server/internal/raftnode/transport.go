package raftnode

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// openTransport makes the raft transport: TCP when RaftBind is set, else
// in memory, at a fixed address (the node ID) so that the persisted raft
// configuration stays valid across restarts.
func (n *Node) openTransport() error {
	var t raft.Transport
	if n.cfg.RaftBind == "" && n.cfg.RaftListener == nil {
		_, inmem := raft.NewInmemTransport(raft.ServerAddress(n.cfg.NodeID))
		t, n.single = inmem, true
	} else {
		lis := n.cfg.RaftListener
		if lis == nil {
			l, err := net.Listen("tcp", n.cfg.RaftBind)
			if err != nil {
				return fmt.Errorf("raftnode: RaftBind %q: %w", n.cfg.RaftBind, err)
			}
			lis = l
		}
		var adv net.Addr = lis.Addr()
		if n.cfg.RaftAdvertise != "" {
			a, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAdvertise)
			if err != nil {
				lis.Close()
				return fmt.Errorf("raftnode: RaftAdvertise %q: %w", n.cfg.RaftAdvertise, err)
			}
			adv = a
		} else if a, ok := adv.(*net.TCPAddr); ok && a.IP.IsUnspecified() {
			lis.Close()
			return invalid("RaftAdvertise", "raft listens on %s, which peers cannot dial; give the address they reach this node on", a)
		}
		// NetworkTransport implements raft.WithPreVote, so pre-vote stays on:
		// a node cut off and rejoining does not disrupt a healthy leader.
		// Its append pipelines are drained (drainedPipeline), so a failed
		// pipeline cannot wedge replication to a follower, or Shutdown.
		t = drainedTransport{raft.NewNetworkTransportWithLogger(&streamLayer{Listener: lis, adv: adv, tls: n.cfg.PeerTLS, log: n.log}, 3, 5*time.Second, newHCLog(n.log))}
	}
	if n.cfg.WrapTransport != nil {
		t = n.cfg.WrapTransport(t)
	}
	c, _ := t.(raft.WithClose)
	if _, ok := t.(raft.WithPreVote); !ok {
		if c != nil {
			_ = c.Close()
		}
		return errors.New("raftnode: the raft transport does not implement raft.WithPreVote, which would silently turn pre-vote off")
	}
	n.trans, n.closer = t, c
	return nil
}

// streamLayer is raft's TCP stream layer over a given listener. It keeps
// every connection it made or accepted and closes them with the listener:
// raft's NetworkTransport closes neither, which would leave its handlers
// and its peers' pooled connections alive after Shutdown. Close then waits
// (briefly) until raft's handler of each accepted connection has ended, so
// a stopped node leaves no goroutine behind.
type streamLayer struct {
	net.Listener
	adv net.Addr
	tls *PeerTLS // nil: plaintext
	log *zap.Logger

	mu       sync.Mutex
	conns    map[net.Conn]bool // true: accepted (a raft handler owns it)
	closed   bool
	handlers sync.WaitGroup // accepted connections not yet closed by their handler
}

func (s *streamLayer) Addr() net.Addr { return s.adv }

func (s *streamLayer) track(c net.Conn, accepted bool) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	if s.conns == nil {
		s.conns = map[net.Conn]bool{}
	}
	s.conns[c] = accepted
	if accepted {
		s.handlers.Add(1)
	}
	return &trackedConn{Conn: c, s: s}, nil
}

func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, err := s.track(c, true)
	if err != nil || s.tls == nil {
		return tc, err
	}
	return &serverTLSConn{Conn: tls.Server(tc, s.tls.Server), log: s.log}, nil
}

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	tc, err := s.track(c, false)
	if err != nil || s.tls == nil {
		return tc, err
	}
	return dialTLS(tc, s.tls, string(addr), timeout)
}

func (s *streamLayer) Close() error {
	err := s.Listener.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close() // the handler's own Close removes it
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // a handler stuck elsewhere; do not hang Shutdown
	}
	return err
}

type trackedConn struct {
	net.Conn
	s    *streamLayer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		accepted, ok := c.s.conns[c.Conn]
		delete(c.s.conns, c.Conn)
		c.s.mu.Unlock()
		if ok && accepted {
			c.s.handlers.Done()
		}
	})
	return c.Conn.Close()
}

// RaftAddr is the address this node's raft transport is reached on.
func (n *Node) RaftAddr() string { return string(n.trans.LocalAddr()) }

package raftnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// PeerTLS secures the raft port with mutual TLS: every connection, accepted
// or dialled, presents a certificate the other side verifies against its
// peer CA, so a node without a valid certificate can neither join, vote,
// replicate nor receive a snapshot.
type PeerTLS struct {
	// Server is the configuration of accepted connections; it must
	// require and verify client certificates. It is used as is, so a
	// GetConfigForClient in it can serve a certificate rotated since.
	Server *tls.Config
	// Client returns the configuration of one dialled connection (this
	// node's current certificate, the current CA); the stream layer sets
	// ServerName to the host dialled.
	Client func() *tls.Config
}

// handshakeTimeout bounds a TLS handshake on the raft port, so a peer
// that connects and sends nothing holds no handler for long.
const handshakeTimeout = 10 * time.Second

// LogHandshakeError logs a refused server-side TLS handshake on port
// (a name: "client port", "raft port"): plaintext where TLS was expected
// at warn, with the remote address; other refusals (a certificate the
// port does not trust, no certificate) at info; a connection closed
// before any byte (a health probe, a port scan) at debug.
func LogHandshakeError(log *zap.Logger, port string, remote net.Addr, err error) {
	addr := ""
	if remote != nil {
		addr = remote.String()
	}
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &record):
		log.Warn("plaintext connection refused on TLS port", zap.String("port", port), zap.String("remote_addr", addr))
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		log.Debug("connection closed before its TLS handshake", zap.String("port", port), zap.String("remote_addr", addr))
	default:
		log.Info("TLS handshake refused", zap.String("port", port), zap.String("remote_addr", addr), zap.Error(err))
	}
}

// serverTLSConn is an accepted raft connection whose TLS handshake runs
// on its first read or write, in raft's handler of it rather than in the
// accept loop, bounded by handshakeTimeout, and logged when refused.
type serverTLSConn struct {
	*tls.Conn
	log  *zap.Logger
	once sync.Once
	err  error
}

func (c *serverTLSConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if c.err = c.HandshakeContext(ctx); c.err != nil {
			LogHandshakeError(c.log, "raft port", c.RemoteAddr(), c.err)
		}
	})
	return c.err
}

func (c *serverTLSConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverTLSConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// dialTLS makes the client side of a raft connection over raw and
// finishes its handshake within timeout, so a peer whose certificate this
// node does not trust fails the dial, with the reason.
func dialTLS(raw net.Conn, p *PeerTLS, addr string, timeout time.Duration) (net.Conn, error) {
	cfg := p.Client()
	if host, _, err := net.SplitHostPort(addr); err == nil && cfg.ServerName == "" {
		cfg.ServerName = host
	}
	c := tls.Client(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("raft peer %s: TLS handshake: %w", addr, err)
	}
	return c, nil
}

// ProbePeer checks that the raft port at addr presents a certificate this
// node trusts (and takes this node's), before it is made a member: a node
// that could never be reached over TLS would only weaken the quorum. A
// node without PeerTLS accepts every address.
func (n *Node) ProbePeer(ctx context.Context, addr string) error {
	p := n.cfg.PeerTLS
	if p == nil {
		return nil
	}
	timeout := handshakeTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	raw, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c, err := dialTLS(raw, p, addr, timeout)
	if err != nil {
		return err
	}
	return c.Close()
}

package raftnode

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/testca"
)

// peerTLSFrom makes a node's mutual TLS from a certificate of ca for
// 127.0.0.1, trusting only trust.
func peerTLSFrom(t *testing.T, ca, trust *testca.CA) *PeerTLS {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue("node", []string{"127.0.0.1"}, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(trust.Cert)
	return &PeerTLS{
		Server: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool},
		Client: func() *tls.Config {
			return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool}
		},
	}
}

// layer is a stream layer on loopback whose accepted connections echo
// one line back, as a raft handler would answer.
func layer(t *testing.T, p *PeerTLS, log *zap.Logger) *streamLayer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &streamLayer{Listener: lis, adv: lis.Addr(), tls: p, log: log}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := s.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 5)
				if _, err := io.ReadFull(c, buf); err == nil {
					_, _ = c.Write(buf)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return s
}

func TestPeerTLSAdmitsOnlyTheClustersCA(t *testing.T) {
	ca, err := testca.New("cluster CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testca.New("other CA")
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	a := layer(t, peerTLSFrom(t, ca, ca), zap.New(core))
	b := peerTLSFrom(t, ca, ca)
	dialer := &streamLayer{Listener: a.Listener, tls: b, log: zap.NewNop()} // Dial only

	// A member of the cluster gets through, both ways verified.
	c, err := dialer.Dial(raft.ServerAddress(a.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatalf("dial with the cluster's certificate: %v", err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo over peer TLS = %q, %v", buf, err)
	}
	c.Close()

	// A node with a certificate from another CA (trusting it or not) is
	// refused: it cannot send a vote request, an append or a snapshot.
	for _, p := range []*PeerTLS{peerTLSFrom(t, other, ca), peerTLSFrom(t, other, other)} {
		intruder := &streamLayer{Listener: a.Listener, tls: p, log: zap.NewNop()}
		c, err := intruder.Dial(raft.ServerAddress(a.Addr().String()), 5*time.Second)
		if err == nil {
			// TLS 1.3: the client's handshake ends before the server
			// has checked its certificate; the first read says no.
			_, _ = c.Write([]byte("hello"))
			_, err = io.ReadFull(c, buf)
			c.Close()
		}
		if err == nil {
			t.Fatal("a peer with another CA's certificate was answered")
		}
	}

	// Plaintext on the raft port is refused, and logged with the address.
	raw, err := net.Dial("tcp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = raw.Write([]byte("plain text, not a TLS record\n"))
	_, _ = raw.Read(buf)
	raw.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(logs.FilterMessage("plaintext connection refused on TLS port").All()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no plaintext refusal logged within 10s: %v", logs.All())
		}
		<-time.After(10 * time.Millisecond) // polling the observed logs, bounded by the deadline
	}
	e := logs.FilterMessage("plaintext connection refused on TLS port").All()[0]
	if e.ContextMap()["port"] != "raft port" || !strings.HasPrefix(e.ContextMap()["remote_addr"].(string), "127.0.0.1:") {
		t.Fatalf("log entry %v: want the raft port and the remote address", e.ContextMap())
	}
}

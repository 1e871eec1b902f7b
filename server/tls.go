package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
)

// causePoll is the cause the poll logs a reload with.
const causePoll = "file changed"

// defaultTLSReloadInterval is how often the certificate, key and CA files
// are checked for a change when Config.TLSReloadInterval is zero.
const defaultTLSReloadInterval = time.Second

// cipherSuites are the TLS 1.2 suites the server accepts and offers:
// forward secret (ECDHE) and authenticated (AEAD) only. TLS 1.3's suites
// are all of that kind and are not configurable in Go; a client that
// offers 1.3 gets it.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// tlsFile names one file of the TLS configuration in errors: the Config
// field and the waymakerd flag that set it, and the path.
type tlsFile struct{ field, flag, path string }

func (f tlsFile) String() string { return fmt.Sprintf("Config.%s (%s) %q", f.field, f.flag, f.path) }

// validateTLS checks which TLS files go together; their content is
// checked when Open loads them.
func (cfg Config) validateTLS() error {
	pair := func(cert, key tlsFile) error {
		if (cert.path == "") != (key.path == "") {
			return fmt.Errorf("server: %s and %s: give both (a certificate and its private key) or neither", cert, key)
		}
		return nil
	}
	c, p := cfg.clientFiles(), cfg.peerFiles()
	if err := pair(c.cert, c.key); err != nil {
		return err
	}
	if err := pair(p.cert, p.key); err != nil {
		return err
	}
	switch {
	case c.ca.path != "" && c.cert.path == "":
		return fmt.Errorf("server: %s: client certificates are verified only on a TLS port; give Config.TLSCertFile (--tls-cert) and Config.TLSKeyFile (--tls-key) too", c.ca)
	case p.cert.path != "" && p.ca.path == "":
		return fmt.Errorf("server: %s: peers verify each other's certificates against a CA; give Config.PeerCAFile (--peer-ca) too", p.cert)
	case p.ca.path != "" && p.cert.path == "":
		return fmt.Errorf("server: %s: a peer CA needs this node's own peer certificate; give Config.PeerTLSCertFile (--peer-tls-cert) and Config.PeerTLSKeyFile (--peer-tls-key) too", p.ca)
	case p.cert.path != "" && !cfg.clustered():
		return fmt.Errorf("server: %s: peer TLS secures the raft port, which a single node does not have; set RaftListen (--raft-listen) too", p.cert)
	case c.ca.path != "" && cfg.clustered() && p.cert.path == "":
		return fmt.Errorf("server: %s in a cluster: nodes forward calls to the leader's client port, presenting their peer certificate; give Config.PeerTLSCertFile (--peer-tls-cert) and its key too", c.ca)
	case cfg.TLSReloadInterval < 0:
		return fmt.Errorf("server: Config.TLSReloadInterval: must not be negative, got %v", cfg.TLSReloadInterval)
	}
	return nil
}

func (cfg Config) clientFiles() *certFiles {
	return &certFiles{port: "client port",
		cert: tlsFile{"TLSCertFile", "--tls-cert", cfg.TLSCertFile},
		key:  tlsFile{"TLSKeyFile", "--tls-key", cfg.TLSKeyFile},
		ca:   tlsFile{"ClientCAFile", "--client-ca", cfg.ClientCAFile}}
}

func (cfg Config) peerFiles() *certFiles {
	return &certFiles{port: "raft port",
		cert: tlsFile{"PeerTLSCertFile", "--peer-tls-cert", cfg.PeerTLSCertFile},
		key:  tlsFile{"PeerTLSKeyFile", "--peer-tls-key", cfg.PeerTLSKeyFile},
		ca:   tlsFile{"PeerCAFile", "--peer-ca", cfg.PeerCAFile}}
}

// certFiles are one port's certificate, key and (optional) CA, loaded at
// Open and again whenever their content changes (polled) or ReloadTLS is
// called. A failed reload keeps the previous certificate, so a rotation
// written file by file never leaves the port without one; connections
// already made keep theirs, and only new handshakes see the new one.
type certFiles struct {
	port          string
	cert, key, ca tlsFile
	cur           atomic.Pointer[certState]

	mu      sync.Mutex // serialises loads
	digest  [sha256.Size]byte
	lastErr string // the last failed reload's error
	logged  bool   // lastErr has been logged
}

// certState is what one load produced.
type certState struct {
	cert *tls.Certificate
	pool *x509.CertPool // nil without a CA file
}

// load reads the files and, when their content differs from the last
// load's, parses them and makes them current. It reports whether it did.
func (c *certFiles) load() (changed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var raw [3][]byte
	h := sha256.New()
	for i, f := range []tlsFile{c.cert, c.key, c.ca} {
		if f.path == "" {
			continue
		}
		if raw[i], err = os.ReadFile(f.path); err != nil {
			return false, fmt.Errorf("server: %s: %w", f, err)
		}
		h.Write(raw[i])
		h.Write([]byte{0})
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	if d == c.digest && c.cur.Load() != nil {
		return false, nil
	}
	st, err := c.parse(raw[0], raw[1], raw[2])
	if err != nil {
		return false, err
	}
	c.cur.Store(st)
	c.digest = d
	return true, nil
}

func (c *certFiles) parse(certPEM, keyPEM, caPEM []byte) (*certState, error) {
	if !bytes.Contains(certPEM, []byte("CERTIFICATE-----")) {
		return nil, fmt.Errorf("server: %s: holds no PEM certificate", c.cert)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	switch {
	case err != nil && strings.Contains(err.Error(), "does not match"):
		return nil, fmt.Errorf("server: %s: the private key does not match the certificate in %s", c.key, c.cert)
	case err != nil && strings.Contains(err.Error(), "key"):
		return nil, fmt.Errorf("server: %s: no usable PEM private key: %v", c.key, err)
	case err != nil:
		return nil, fmt.Errorf("server: %s: %v", c.cert, err)
	}
	st := &certState{cert: &cert}
	if c.ca.path != "" {
		st.pool = x509.NewCertPool()
		if !st.pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("server: %s: holds no PEM certificate", c.ca)
		}
	}
	return st, nil
}

// serverConfig is the configuration of one accepted connection: the
// current certificate, and with a CA, client certificates required and
// verified against it.
func (c *certFiles) serverConfig() *tls.Config {
	st := c.cur.Load()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites, Certificates: []tls.Certificate{*st.cert}}
	if st.pool != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, st.pool
	}
	return cfg
}

// serverTLS is a server's TLS: the client port's files, the raft port's,
// and the poll that reloads them.
type serverTLS struct {
	client, peer *certFiles // nil: that port is plaintext
	log          *zap.Logger
	interval     time.Duration
	stop         chan struct{}
	stopOnce     sync.Once
	done         chan struct{}
}

// newServerTLS loads the TLS files of cfg (validated), failing with an
// error that names the field, the flag and the file.
func newServerTLS(cfg Config) (*serverTLS, error) {
	t := &serverTLS{log: cfg.Logger, interval: cfg.TLSReloadInterval, stop: make(chan struct{}), done: make(chan struct{})}
	if t.interval == 0 {
		t.interval = defaultTLSReloadInterval
	}
	if cfg.TLSCertFile != "" {
		t.client = cfg.clientFiles()
	}
	if cfg.PeerTLSCertFile != "" {
		t.peer = cfg.peerFiles()
	}
	if t.client != nil && t.peer == nil && cfg.ClientCAFile == "" && cfg.clustered() {
		t.log.Info("client port TLS in a cluster without --peer-ca or --client-ca: nodes verify each other's client-port certificates (forwarding, join) against the system's roots")
	}
	for _, f := range []*certFiles{t.client, t.peer} {
		if f == nil {
			continue
		}
		if _, err := f.load(); err != nil {
			return nil, err
		}
		if leaf := f.cur.Load().cert.Leaf; leaf != nil && time.Now().After(leaf.NotAfter) {
			t.log.Warn("TLS certificate has expired: clients will refuse it", zap.String("port", f.port), zap.String("file", f.cert.path), zap.Time("not_after", leaf.NotAfter))
		}
	}
	return t, nil
}

func (t *serverTLS) enabled() bool { return t.client != nil || t.peer != nil }

// start polls the files for changes until close.
func (t *serverTLS) start() {
	if !t.enabled() {
		close(t.done)
		return
	}
	go func() {
		defer close(t.done)
		tk := time.NewTicker(t.interval)
		defer tk.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tk.C:
				_ = t.reload(causePoll)
			}
		}
	}()
}

func (t *serverTLS) close() {
	t.stopOnce.Do(func() { close(t.stop) })
	<-t.done
}

// reload loads every port's files again; see certFiles. A failure is
// logged once per distinct error, and the port keeps its certificate. The
// poll (polled) logs a failure only when the next poll finds it again: a
// rotation writes the certificate and the key one after the other, and a
// poll in between sees a key that does not match yet.
func (t *serverTLS) reload(cause string) error {
	polled := cause == causePoll
	var errs []error
	for _, f := range []*certFiles{t.client, t.peer} {
		if f == nil {
			continue
		}
		changed, err := f.load()
		f.mu.Lock()
		if err != nil {
			msg := err.Error()
			fresh := msg != f.lastErr
			if fresh {
				f.logged = false
			}
			if !polled || (!fresh && !f.logged) {
				t.log.Warn("TLS reload failed; the previous certificate stays in use", zap.String("port", f.port), zap.String("cause", cause), zap.Error(err))
				f.logged = true
			}
			f.lastErr = msg
			errs = append(errs, err)
		} else {
			f.lastErr, f.logged = "", false
			if changed {
				fields := []zap.Field{zap.String("port", f.port), zap.String("cause", cause), zap.String("file", f.cert.path)}
				if leaf := f.cur.Load().cert.Leaf; leaf != nil {
					fields = append(fields, zap.Time("not_after", leaf.NotAfter))
				}
				t.log.Info("TLS certificate reloaded", fields...)
			}
		}
		f.mu.Unlock()
	}
	return errors.Join(errs...)
}

// serverOptions are the client port's credentials: TLS from the current
// certificate, each refused handshake logged.
func (t *serverTLS) serverOptions() []grpc.ServerOption {
	if t.client == nil {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return t.client.serverConfig(), nil }}
	return []grpc.ServerOption{grpc.Creds(loggedCreds{TransportCredentials: credentials.NewTLS(cfg), log: t.log})}
}

// peerTLS is the raft port's mutual TLS.
func (t *serverTLS) peerTLS() *raftnode.PeerTLS {
	if t.peer == nil {
		return nil
	}
	return &raftnode.PeerTLS{
		Server: &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites,
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return t.peer.serverConfig(), nil }},
		Client: t.peerClientConfig,
	}
}

func (t *serverTLS) peerClientConfig() *tls.Config {
	st := t.peer.cur.Load()
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites, Certificates: []tls.Certificate{*st.cert}, RootCAs: st.pool}
}

// dialCredentials are what this node dials other nodes' client ports
// with (forwarding to the leader, join, announce): plaintext when its own
// client port is; otherwise TLS verifying the other's certificate against
// the peer CA (or, without peer TLS, the client CA, or else the system's
// roots), presenting this node's peer certificate when it has one. Each
// handshake takes the current files, so a rotation reaches these
// connections' next handshake too.
func (t *serverTLS) dialCredentials() credentials.TransportCredentials {
	if t.client == nil {
		return insecure.NewCredentials()
	}
	return freshCreds{make: t.forwardConfig}
}

func (t *serverTLS) forwardConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites}
	if t.peer != nil {
		st := t.peer.cur.Load()
		cfg.Certificates, cfg.RootCAs = []tls.Certificate{*st.cert}, st.pool
	} else if st := t.client.cur.Load(); st.pool != nil {
		cfg.RootCAs = st.pool
	}
	return cfg
}

// loggedCreds logs each refused server-side handshake: plaintext on the
// TLS port at warn, naming the remote address.
type loggedCreds struct {
	credentials.TransportCredentials
	log *zap.Logger
}

func (c loggedCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		raftnode.LogHandshakeError(c.log, "client port", raw.RemoteAddr(), err)
	}
	return conn, info, err
}

func (c loggedCreds) Clone() credentials.TransportCredentials {
	return loggedCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log}
}

// freshCreds are client TLS credentials built anew for every handshake,
// from the files current then.
type freshCreds struct{ make func() *tls.Config }

func (f freshCreds) creds() credentials.TransportCredentials { return credentials.NewTLS(f.make()) }

func (f freshCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return f.creds().ClientHandshake(ctx, authority, raw)
}

func (f freshCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return f.creds().ServerHandshake(raw)
}

func (f freshCreds) Info() credentials.ProtocolInfo          { return f.creds().Info() }
func (f freshCreds) Clone() credentials.TransportCredentials { return f }
func (f freshCreds) OverrideServerName(string) error         { return nil }

// forwardTLSError names a forwarded call's failure to reach the leader
// over TLS as this node's problem with the leader, not the client's: a
// client that read gRPC's "remote error: tls: bad certificate" would
// think its own certificate was refused.
func forwardTLSError(leader string, err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable || strings.HasPrefix(st.Message(), "waymaker") ||
		!(strings.Contains(st.Message(), "tls:") || strings.Contains(st.Message(), "x509:")) {
		return err
	}
	return status.Errorf(codes.Unavailable, "waymaker: this node cannot reach the leader %s over TLS (check the nodes' certificates: --peer-tls-cert, --peer-ca, --client-ca): %s", leader, st.Message())
}

// ReloadTLS loads the certificate, key and CA files of both ports again
// now, as the poll does when they change (waymakerd calls it on SIGHUP).
// Connections already made, and leadership, are kept; new handshakes use
// what was loaded. On an error, which names the field, the flag and the
// file, the port keeps its previous certificate. Without TLS it does
// nothing.
func (s *Server) ReloadTLS() error { return s.tls.reload("ReloadTLS") }

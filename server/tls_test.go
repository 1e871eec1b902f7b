package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/testca"
)

// tlsFiles is a CA and a server certificate written into a temp dir.
type tlsFiles struct {
	ca                    *testca.CA
	dir                   string
	caFile, cert, key     string
	pool                  *x509.CertPool
	otherKey, noCertFile  string
	clientCert, clientKey string
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes a certificate for 127.0.0.1 (and its key) over name.pem and
// name-key.pem, the certificate first, as a rotation by hand would.
func (f *tlsFiles) issue(t *testing.T, name string) (cert, key string) {
	t.Helper()
	c, k, err := f.ca.Issue(name, []string{"127.0.0.1"}, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(f.dir, name+".pem"), filepath.Join(f.dir, name+"-key.pem")
	writeFile(t, cert, c)
	writeFile(t, key, k)
	return cert, key
}

func newTLSFiles(t *testing.T) *tlsFiles {
	t.Helper()
	ca, err := testca.New("test CA")
	if err != nil {
		t.Fatal(err)
	}
	f := &tlsFiles{ca: ca, dir: t.TempDir(), pool: x509.NewCertPool()}
	f.pool.AddCert(ca.Cert)
	f.caFile = filepath.Join(f.dir, "ca.pem")
	writeFile(t, f.caFile, ca.PEM())
	f.cert, f.key = f.issue(t, "server")
	_, f.otherKey = f.issue(t, "other")
	f.clientCert, f.clientKey = f.issue(t, "client")
	f.noCertFile = filepath.Join(f.dir, "empty.pem")
	writeFile(t, f.noCertFile, []byte("no certificate here\n"))
	return f
}

func TestTLSConfigIsRefusedNamingTheFlagAndFile(t *testing.T) {
	f := newTLSFiles(t)
	missing := filepath.Join(f.dir, "missing.pem")
	raft := "127.0.0.1:0"
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"certificate without key", Config{TLSCertFile: f.cert}, []string{"--tls-cert", "--tls-key", "give both"}},
		{"missing certificate file", Config{TLSCertFile: missing, TLSKeyFile: f.key}, []string{"Config.TLSCertFile (--tls-cert)", missing, "no such file"}},
		{"missing key file", Config{TLSCertFile: f.cert, TLSKeyFile: missing}, []string{"Config.TLSKeyFile (--tls-key)", missing}},
		{"key that does not match", Config{TLSCertFile: f.cert, TLSKeyFile: f.otherKey}, []string{"Config.TLSKeyFile (--tls-key)", f.otherKey, "does not match the certificate", f.cert}},
		{"certificate file without a certificate", Config{TLSCertFile: f.noCertFile, TLSKeyFile: f.key}, []string{"--tls-cert", f.noCertFile, "no PEM certificate"}},
		{"key file without a key", Config{TLSCertFile: f.cert, TLSKeyFile: f.noCertFile}, []string{"--tls-key", f.noCertFile, "private key"}},
		{"CA file without a certificate", Config{TLSCertFile: f.cert, TLSKeyFile: f.key, ClientCAFile: f.noCertFile}, []string{"Config.ClientCAFile (--client-ca)", f.noCertFile, "no PEM certificate"}},
		{"client CA without TLS", Config{ClientCAFile: f.caFile}, []string{"--client-ca", "--tls-cert"}},
		{"peer certificate without peer CA", Config{RaftListen: raft, PeerTLSCertFile: f.cert, PeerTLSKeyFile: f.key}, []string{"--peer-tls-cert", "--peer-ca"}},
		{"peer CA without a certificate", Config{RaftListen: raft, PeerTLSCertFile: f.cert, PeerTLSKeyFile: f.key, PeerCAFile: f.noCertFile}, []string{"Config.PeerCAFile (--peer-ca)", f.noCertFile}},
		{"peer TLS on a single node", Config{PeerTLSCertFile: f.cert, PeerTLSKeyFile: f.key, PeerCAFile: f.caFile}, []string{"--peer-tls-cert", "--raft-listen"}},
		{"client CA in a cluster without a peer certificate", Config{RaftListen: raft, TLSCertFile: f.cert, TLSKeyFile: f.key, ClientCAFile: f.caFile}, []string{"--client-ca", "--peer-tls-cert"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(c.cfg)
			if err == nil {
				s.Stop()
				t.Fatal("Open accepted it")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// startTLS starts a single node serving TLS with f's files.
func startTLS(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		<-served
	})
	return s, lis.Addr().String()
}

// waitLog waits up to 10 s for a log entry with message msg.
func waitLog(t *testing.T, logs *observer.ObservedLogs, msg string) observer.LoggedEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if e := logs.FilterMessage(msg).All(); len(e) > 0 {
			return e[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q within 10s; logged: %v", msg, logs.All())
		}
		<-tick.C
	}
}

func TestPlaintextIsRefusedOnTheTLSPortWithALogLine(t *testing.T) {
	f := newTLSFiles(t)
	core, logs := observer.New(zapcore.InfoLevel)
	_, addr := startTLS(t, Config{TLSCertFile: f.cert, TLSKeyFile: f.key, Logger: zap.New(core)})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Fatal("a plaintext call to the TLS port was answered")
	}
	e := waitLog(t, logs, "plaintext connection refused on TLS port")
	if e.Level != zapcore.WarnLevel || !strings.HasPrefix(e.ContextMap()["remote_addr"].(string), "127.0.0.1:") {
		t.Fatalf("log entry %+v: want warn level with the remote address", e)
	}
	// And TLS clients are served, with TLS 1.3 unless they cap it.
	var version uint16
	tconn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: f.pool,
		VerifyConnection: func(cs tls.ConnectionState) error { version = cs.Version; return nil }})))
	if err != nil {
		t.Fatal(err)
	}
	defer tconn.Close()
	if _, err := healthpb.NewHealthClient(tconn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("TLS call: %v", err)
	}
	if version != tls.VersionTLS13 {
		t.Fatalf("negotiated TLS version %x, want 1.3", version)
	}
	// TLS 1.1 is refused.
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.pool, MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
}

func TestMutualTLSRefusesAClientWithoutACertificate(t *testing.T) {
	f := newTLSFiles(t)
	_, addr := startTLS(t, Config{TLSCertFile: f.cert, TLSKeyFile: f.key, ClientCAFile: f.caFile})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	check := func(cfg *tls.Config) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	if err := check(&tls.Config{RootCAs: f.pool}); err == nil {
		t.Fatal("a client without a certificate was answered")
	}
	cert, err := tls.LoadX509KeyPair(f.clientCert, f.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(&tls.Config{RootCAs: f.pool, Certificates: []tls.Certificate{cert}}); err != nil {
		t.Fatalf("a client with a certificate from the CA: %v", err)
	}
}

// Rotating the certificate: new handshakes see the new one (after
// ReloadTLS, as on SIGHUP, and after the poll notices a change by
// itself), while a connection made before, with a stream open on it,
// keeps working.
func TestCertificateRotationKeepsOpenConnections(t *testing.T) {
	f := newTLSFiles(t)
	core, logs := observer.New(zapcore.InfoLevel)
	// The poll is slowed to an hour here, so that only ReloadTLS reloads;
	// TestCertificateRotationByPoll checks the poll.
	s, addr := startTLS(t, Config{TLSCertFile: f.cert, TLSKeyFile: f.key, TLSReloadInterval: time.Hour, Logger: zap.New(core)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	served := func() (*big.Int, *grpc.ClientConn) { return servedSerial(ctx, t, addr, f.pool) }
	first, old := served()
	defer old.Close()
	watch, err := healthpb.NewHealthClient(old).Watch(ctx, &healthpb.HealthCheckRequest{Service: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil { // SERVICE_UNKNOWN: the stream is open
		t.Fatal(err)
	}

	f.issue(t, "server") // over the same files
	if err := s.ReloadTLS(); err != nil {
		t.Fatalf("ReloadTLS: %v", err)
	}
	second, c2 := served()
	c2.Close()
	if second.Cmp(first) == 0 {
		t.Fatal("a new handshake after ReloadTLS saw the old certificate")
	}
	s.health.SetServingStatus("probe", healthpb.HealthCheckResponse_SERVING)
	if r, err := watch.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("the stream opened before the rotation: %v, %v", r, err)
	}
	if _, err := healthpb.NewHealthClient(old).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("the connection made before the rotation: %v", err)
	}
	if !s.IsLeader() {
		t.Fatal("the node lost its leadership")
	}

	// A bad file (a key that does not match) keeps the certificate.
	cert, _ := f.issue(t, "next")
	writeFile(t, f.key, mustRead(t, f.otherKey))
	writeFile(t, f.cert, mustRead(t, cert))
	if err := s.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("ReloadTLS with a mismatched key = %v, want the mismatch named", err)
	}
	if kept, c := served(); kept.Cmp(second) != 0 {
		c.Close()
		t.Fatal("a failed reload replaced the certificate")
	} else {
		c.Close()
	}

	waitLog(t, logs, "TLS reload failed; the previous certificate stays in use")
}

func TestCertificateRotationByPoll(t *testing.T) {
	f := newTLSFiles(t)
	core, logs := observer.New(zapcore.InfoLevel)
	_, addr := startTLS(t, Config{TLSCertFile: f.cert, TLSKeyFile: f.key, TLSReloadInterval: 20 * time.Millisecond, Logger: zap.New(core)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, old := servedSerial(ctx, t, addr, f.pool)
	defer old.Close()
	f.issue(t, "server")
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, c := servedSerial(ctx, t, addr, f.pool)
		c.Close()
		if got.Cmp(first) != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the files changed, handshakes still see the old certificate; logged: %v", logs.All())
		}
	}
	waitLog(t, logs, "TLS certificate reloaded")
	if _, err := healthpb.NewHealthClient(old).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("the connection made before the rotation: %v", err)
	}
	// A file left broken is reported by the poll (once it has seen it
	// twice: a rotation in progress is not an error).
	writeFile(t, f.key, mustRead(t, f.otherKey))
	if e := waitLog(t, logs, "TLS reload failed; the previous certificate stays in use"); e.ContextMap()["cause"] != causePoll {
		t.Fatalf("reload failure logged as %v, want the poll's cause", e.ContextMap())
	}
}

// Rotations while clients keep making new connections: no handshake
// fails, though the poll may read the files half written.
func TestCertificateRotationUnderLoadLosesNoCall(t *testing.T) {
	f := newTLSFiles(t)
	_, addr := startTLS(t, Config{TLSCertFile: f.cert, TLSKeyFile: f.key, TLSReloadInterval: 2 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop := make(chan struct{})
	const workers = 4
	errs := make(chan error, workers)
	var calls atomic.Int64
	for range workers {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: f.pool})))
				if err == nil {
					_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
					conn.Close()
				}
				if err != nil {
					errs <- err
					return
				}
				calls.Add(1)
			}
		}()
	}
	last, c := servedSerial(ctx, t, addr, f.pool)
	c.Close()
	for range 10 {
		f.issue(t, "server")
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, c := servedSerial(ctx, t, addr, f.pool)
			c.Close()
			if got.Cmp(last) != 0 {
				last = got
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a rotation was not picked up within 10 s")
			}
		}
	}
	close(stop)
	for range workers {
		if err := <-errs; err != nil {
			t.Fatalf("a call failed during the rotations: %v", err)
		}
	}
	t.Logf("%d calls over new connections during 10 rotations", calls.Load())
}

// servedSerial dials a new connection to addr and returns the serial of
// the certificate its handshake saw, and the connection.
func servedSerial(ctx context.Context, t *testing.T, addr string, pool *x509.CertPool) (*big.Int, *grpc.ClientConn) {
	t.Helper()
	var serial *big.Int
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool,
		VerifyConnection: func(cs tls.ConnectionState) error { serial = cs.PeerCertificates[0].SerialNumber; return nil }})))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("call over a new connection: %v", err)
	}
	return serial, conn
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestForwardTLSErrorNamesTheNodesProblem(t *testing.T) {
	tlsErr := status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: remote error: tls: bad certificate"`)
	got := forwardTLSError("node2", tlsErr)
	if status.Code(got) != codes.Unavailable || !strings.HasPrefix(status.Convert(got).Message(), "waymaker: this node cannot reach the leader node2 over TLS") {
		t.Fatalf("forwardTLSError = %v, want Unavailable naming this node's TLS problem with the leader", got)
	}
	for _, err := range []error{
		status.Error(codes.Unavailable, "connection refused"),
		status.Error(codes.NotFound, "tls: bad certificate"),
		status.Error(codes.Unavailable, "waymaker: tls: already explained"),
	} {
		if got := forwardTLSError("node2", err); got != err {
			t.Fatalf("forwardTLSError(%v) = %v, want it unchanged", err, got)
		}
	}
}

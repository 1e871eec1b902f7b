package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "waymaker test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue signs a certificate for ips (server and client use), valid until
// notAfter.
func (ca *testCA) issue(t *testing.T, ips []string, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "waymaker test"},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// writePEM writes a certificate and its key into dir, returning the paths.
func writePEM(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func (ca *testCA) writeCA(t *testing.T, dir string) string {
	t.Helper()
	f := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// tlsServer serves the test service with cfg.
func tlsServer(t *testing.T, cfg *tls.Config) *testServer {
	return serve(t, "127.0.0.1:0", &seqService{}, grpc.Creds(credentials.NewTLS(cfg)))
}

// callOnce makes one idempotent call with a generous deadline: a
// certificate problem must fail it at once, not after retrying into the
// deadline.
func callOnce(t *testing.T, conn *Conn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := Call(ctx, conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call = %v: a certificate problem must not be retried into the deadline", err)
	}
	return err
}

// Each certificate problem is an Unavailable whose message says which it
// is, never a bare "connection closed".
func TestCertificateProblemsAreNamed(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	future := time.Now().Add(time.Hour)
	good := ca.issue(t, []string{"127.0.0.1"}, future)
	cases := []struct {
		name   string
		server *tls.Config
		client *tls.Config
		want   string
	}{
		{"expired", &tls.Config{Certificates: []tls.Certificate{ca.issue(t, []string{"127.0.0.1"}, time.Now().Add(-time.Hour))}},
			&tls.Config{RootCAs: ca.pool}, "expired"},
		{"unknown authority", &tls.Config{Certificates: []tls.Certificate{other.issue(t, []string{"127.0.0.1"}, future)}},
			&tls.Config{RootCAs: ca.pool}, "unknown authority"},
		{"name mismatch", &tls.Config{Certificates: []tls.Certificate{ca.issue(t, []string{"10.1.2.3"}, future)}},
			&tls.Config{RootCAs: ca.pool}, "name mismatch: it is valid for 10.1.2.3"},
		{"client certificate missing", &tls.Config{Certificates: []tls.Certificate{good}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool},
			&tls.Config{RootCAs: ca.pool}, "requires a client certificate"},
		{"client certificate from another CA", &tls.Config{Certificates: []tls.Certificate{good}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool},
			&tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{other.issue(t, []string{"127.0.0.1"}, future)}}, "refused this client's certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tlsServer(t, tc.server)
			conn, err := Dial(context.Background(), []string{s.addr}, WithTLS(tc.client))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = callOnce(t, conn)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("call = %v, want an Unavailable error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestTLSClientToPlaintextServerIsNamed(t *testing.T) {
	s := serve(t, "127.0.0.1:0", &seqService{})
	conn, err := Dial(context.Background(), []string{s.addr}, WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := callOnce(t, conn); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Fatalf("call = %v, want Unavailable saying the server does not speak TLS", err)
	}
}

func TestWithTLSFilesDialsMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	srvCert := ca.issue(t, []string{"127.0.0.1"}, time.Now().Add(time.Hour))
	s := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool})
	certFile, keyFile := writePEM(t, dir, "client", ca.issue(t, []string{"127.0.0.1"}, time.Now().Add(time.Hour)))
	conn, err := Dial(context.Background(), []string{s.addr}, WithTLSFiles(ca.writeCA(t, dir), certFile, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := callOnce(t, conn); err != nil {
		t.Fatalf("call over mutual TLS from files = %v", err)
	}
}

func TestWithTLSFilesRefusesUnusableFiles(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	caFile := ca.writeCA(t, dir)
	certFile, keyFile := writePEM(t, dir, "client", ca.issue(t, []string{"127.0.0.1"}, time.Now().Add(time.Hour)))
	_, otherKey := writePEM(t, dir, "other", ca.issue(t, []string{"127.0.0.1"}, time.Now().Add(time.Hour)))
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct {
		name                string
		ca, cert, key, want string
	}{
		{"missing CA file", missing, "", "", "caFile"},
		{"CA file without a certificate", keyFile, "", "", "holds no PEM certificate"},
		{"certificate without key", caFile, certFile, "", "give both"},
		{"key without certificate", caFile, "", keyFile, "give both"},
		{"key that does not match", caFile, certFile, otherKey, "private key does not match"},
		{"missing certificate file", caFile, missing, keyFile, "missing.pem"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := Dial(context.Background(), []string{"127.0.0.1:1"}, WithTLSFiles(tc.ca, tc.cert, tc.key))
			if err == nil {
				conn.Close()
				t.Fatal("Dial succeeded, want an error")
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid || !strings.Contains(e.Message, "WithTLSFiles") || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("Dial = %v, want a KindInvalid error naming WithTLSFiles and %q", err, tc.want)
			}
		})
	}
}

// A server's own account of a TLS problem (a node that cannot reach its
// leader) is kept: it is not this client's certificate.
func TestServerWrittenTLSMessageIsKept(t *testing.T) {
	msg := "waymaker: this node cannot reach the leader n2 over TLS: remote error: tls: bad certificate"
	err := MapError(context.Background(), status.Error(codes.Unavailable, msg))
	var e *Error
	if !errors.As(err, &e) || e.Message != msg || !transient(err) {
		t.Fatalf("MapError = %v, want the server's message unchanged, and retried", err)
	}
	// The same text from gRPC's client side is this client's problem.
	err = MapError(context.Background(), status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: remote error: tls: bad certificate"`))
	if !errors.As(err, &e) || !strings.Contains(e.Message, "refused this client's certificate") || transient(err) {
		t.Fatalf("MapError = %v, want the client's certificate named, and not retried", err)
	}
}

// Several addresses over TLS: each node's certificate is checked against
// its own address, not the balancer's target name.
func TestTLSWithSeveralAddresses(t *testing.T) {
	ca := newTestCA(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.issue(t, []string{"127.0.0.1"}, time.Now().Add(time.Hour))}}
	a, b := tlsServer(t, cfg), tlsServer(t, cfg)
	conn, err := Dial(context.Background(), []string{a.addr, b.addr}, WithTLS(&tls.Config{RootCAs: ca.pool}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 4 { // round-robin: both nodes
		if err := callOnce(t, conn); err != nil {
			t.Fatalf("call over TLS to several addresses: %v", err)
		}
	}
}

func TestPlaintextClientToTLSServerIsHinted(t *testing.T) {
	ca := newTestCA(t)
	s := tlsServer(t, &tls.Config{Certificates: []tls.Certificate{ca.issue(t, []string{"127.0.0.1"}, time.Now().Add(time.Hour))}})
	conn := dialTest(t, s.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := callDo(ctx, conn)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "if it serves TLS") {
		t.Fatalf("plaintext call to a TLS server = %v, want Unavailable hinting at TLS", err)
	}
}

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files
// and returns their paths and the pair.
func selfSigned(t *testing.T) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "waymaker test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

func TestTLSFlags(t *testing.T) {
	certFile, keyFile, pair := selfSigned(t)
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	addr := waymakertest.Start(t, waymakertest.WithConfig(func(c *server.Config) {
		c.GRPCOptions = append(c.GRPCOptions, grpc.Creds(creds))
	})).Addr()

	ok(t, wm(t, addr, "", "kv", "add", "secure", "--tls-ca", certFile, "--token", "s3cret"))
	if out := ok(t, wm(t, addr, "", "kv", "ls", "--tls-ca", certFile, "--tls-cert", certFile, "--tls-key", keyFile)); !strings.Contains(out, "secure") {
		t.Fatalf("ls over TLS with a client certificate = %q", out)
	}
	// Plaintext against a TLS server, and TLS without trusting its CA: no
	// server answers as it should.
	if r := wm(t, addr, "", "kv", "ls", "--timeout", "1s"); r.code != exitUnreachable {
		t.Errorf("plaintext to a TLS server: exit %d %q, want %d", r.code, r.err, exitUnreachable)
	}
	if r := wm(t, addr, "", "kv", "ls", "--tls", "--timeout", "1s"); r.code != exitUnreachable {
		t.Errorf("TLS with an untrusted CA: exit %d %q, want %d", r.code, r.err, exitUnreachable)
	}
	for _, args := range [][]string{
		{"--tls-ca", filepath.Join(t.TempDir(), "missing.pem")},
		{"--tls-ca", keyFile},
		{"--tls-cert", certFile},
	} {
		if r := wm(t, addr, "", append([]string{"kv", "ls"}, args...)...); r.code != exitUsage {
			t.Errorf("wm kv ls %v: exit %d %q, want %d", args, r.code, r.err, exitUsage)
		}
	}
}

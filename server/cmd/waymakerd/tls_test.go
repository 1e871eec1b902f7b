package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/testca"
)

type daemonCerts struct {
	ca                     *testca.CA
	dir, caFile, cert, key string
	pool                   *x509.CertPool
}

func newDaemonCerts(t *testing.T) *daemonCerts {
	t.Helper()
	ca, err := testca.New("daemon test CA")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemonCerts{ca: ca, dir: t.TempDir(), pool: x509.NewCertPool()}
	d.pool.AddCert(ca.Cert)
	d.caFile = filepath.Join(d.dir, "ca.pem")
	if err := os.WriteFile(d.caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cert, d.key = d.issue(t, "server")
	return d
}

func (d *daemonCerts) issue(t *testing.T, name string) (cert, key string) {
	t.Helper()
	c, k, err := d.ca.Issue(name, []string{"127.0.0.1"}, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(d.dir, name+".pem"), filepath.Join(d.dir, name+"-key.pem")
	for f, b := range map[string][]byte{cert: c, key: k} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}

func TestRunRejectsBadTLSFiles(t *testing.T) {
	d := newDaemonCerts(t)
	_, otherKey := d.issue(t, "other")
	missing := filepath.Join(d.dir, "missing.pem")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--tls-cert", missing, "--tls-key", d.key}, []string{"--tls-cert", missing}},
		{[]string{"--tls-cert", d.cert, "--tls-key", otherKey}, []string{"--tls-key", otherKey, "does not match"}},
		{[]string{"--tls-cert", d.cert, "--tls-key", d.key, "--client-ca", d.key}, []string{"--client-ca", d.key, "no PEM certificate"}},
		{[]string{"--tls-cert", d.cert}, []string{"--tls-key"}},
		{[]string{"--client-ca", d.caFile}, []string{"--client-ca", "--tls-cert"}},
		{[]string{"--raft-listen", "127.0.0.1:0", "--peer-tls-cert", d.cert, "--peer-tls-key", d.key}, []string{"--peer-ca"}},
	} {
		dir := filepath.Join(t.TempDir(), "wm")
		var stderr bytes.Buffer
		err := run(context.Background(), append(tc.args, "--listen", "127.0.0.1:0", "--data-dir", dir), io.Discard, &stderr, nil)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("run(%q) = %v, want an error naming %q", tc.args, err, w)
			}
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("run(%q) touched the data dir: %v", tc.args, err)
		}
	}
}

// SIGHUP reloads the certificate: a new handshake sees the new one.
func TestSIGHUPReloadsTheCertificate(t *testing.T) {
	d := newDaemonCerts(t)
	var stderr bytes.Buffer
	lw := &lockedWriter{w: &stderr, seen: make(chan struct{}), want: []byte("waymaker server listening")}
	cmd := child(t, "--listen 127.0.0.1:0 --tls-cert "+d.cert+" --tls-key "+d.key, io.Discard, lw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	select {
	case <-lw.seen:
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon never logged its listen address: %s", lw.String())
	}
	var addr string
	for _, l := range parseLog(t, lw.String()) {
		if l.Msg == "waymaker server listening" {
			addr = l.Fields["addr"].(string)
		}
	}
	first := servedSerial(t, addr, d.pool)
	d.issue(t, "server") // over the same files
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(lw.String(), "SIGHUP: TLS files reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged within 10 s of SIGHUP:\n%s", lw.String())
		}
		<-time.After(10 * time.Millisecond) // polling the child's log, bounded by the deadline
	}
	if second := servedSerial(t, addr, d.pool); second.Cmp(first) == 0 {
		t.Fatal("after SIGHUP a new handshake still sees the old certificate")
	}
}

// servedSerial makes one call over a new TLS connection and returns the
// serial of the certificate it saw.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) *big.Int {
	t.Helper()
	var serial *big.Int
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool,
		VerifyConnection: func(cs tls.ConnectionState) error { serial = cs.PeerCertificates[0].SerialNumber; return nil }})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("call over TLS: %v", err)
	}
	return serial
}

// --dev-certs writes certificates a TLS daemon starts with and a client
// connects with, and refuses to write over them.
func TestDevCertsServeMutualTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--dev-certs", dir}, &out, io.Discard, nil); err != nil {
		t.Fatalf("--dev-certs: %v", err)
	}
	if !strings.Contains(out.String(), "--tls-cert "+filepath.Join(dir, "node.pem")) {
		t.Fatalf("--dev-certs printed no flags using its files:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"--dev-certs", dir}, io.Discard, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("--dev-certs over existing files = %v, want a refusal", err)
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--tls-cert", f("node.pem"), "--tls-key", f("node-key.pem"), "--client-ca", f("ca.pem")}, io.Discard, io.Discard, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	client, err := waymaker.Connect(ctx, addr, waymaker.WithTLSFiles(f("ca.pem"), f("client.pem"), f("client-key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	if _, err := client.GetOrCreateKV(cctx, waymaker.KVConfig{Name: "dev"}); err != nil {
		t.Fatalf("call with the development client certificate: %v", err)
	}
	client.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

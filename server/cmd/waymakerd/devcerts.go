package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/testca"
)

// devCertValidity is how long --dev-certs certificates are valid.
const devCertValidity = 365 * 24 * time.Hour

// writeDevCerts writes a development CA and certificates into dir, for a
// TLS server or cluster on loopback: ca.pem; node.pem and node-key.pem
// (127.0.0.1, ::1 and localhost, server and client use: every node's
// client and raft ports); client.pem and client-key.pem. It refuses to
// write over files that exist.
func writeDevCerts(dir string, stdout io.Writer) error {
	files := []string{"ca.pem", "node.pem", "node-key.pem", "client.pem", "client-key.pem"}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("--dev-certs %q: %s exists; give a new or empty directory", dir, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--dev-certs %q: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--dev-certs %q: %w", dir, err)
	}
	until := time.Now().Add(devCertValidity)
	ca, err := testca.NewUntil("waymaker development CA", until)
	if err != nil {
		return err
	}
	node, nodeKey, err := ca.Issue("waymaker node", []string{"127.0.0.1", "::1", "localhost"}, time.Time{}, until)
	if err != nil {
		return err
	}
	client, clientKey, err := ca.Issue("waymaker client", nil, time.Time{}, until)
	if err != nil {
		return err
	}
	for i, b := range [][]byte{ca.PEM(), node, nodeKey, client, clientKey} {
		if err := os.WriteFile(filepath.Join(dir, files[i]), b, 0o600); err != nil {
			return fmt.Errorf("--dev-certs %q: %w", dir, err)
		}
	}
	p := func(f string) string { return filepath.Join(dir, f) }
	fmt.Fprintf(stdout, `wrote a development CA and certificates for 127.0.0.1, ::1 and localhost, valid until %s, into %s
(for loopback development only: the CA's key is not kept, so nothing else can be signed with it)

serve TLS, requiring client certificates, and mutual TLS between nodes:
  waymakerd --tls-cert %s --tls-key %s --client-ca %s \
    --peer-tls-cert %s --peer-tls-key %s --peer-ca %s ...
connect:
  waymaker.WithTLSFiles(%q, %q, %q)
  WAYMAKER_TLS_CA=%s WAYMAKER_TLS_CERT=%s WAYMAKER_TLS_KEY=%s go run ./examples/tour
  wm --tls-ca %s --tls-cert %s --tls-key %s ...
`, until.Format(time.DateOnly), dir,
		p("node.pem"), p("node-key.pem"), p("ca.pem"), p("node.pem"), p("node-key.pem"), p("ca.pem"),
		p("ca.pem"), p("client.pem"), p("client-key.pem"),
		p("ca.pem"), p("client.pem"), p("client-key.pem"),
		p("ca.pem"), p("client.pem"), p("client-key.pem"))
	return nil
}

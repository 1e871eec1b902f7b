package waymakertest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/testca"
)

// CA is a certificate authority made for one test, with the PEM files a
// TLS server and its clients need, written into a t.TempDir():
//
//	ca := waymakertest.NewCA(t)
//	srv := waymakertest.Start(t, waymakertest.WithMutualTLS(ca))
//	client, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithTLSFiles(ca.CAFile, ca.ClientCertFile, ca.ClientKeyFile))
type CA struct {
	// CAFile is the CA's certificate: what clients trust (WithTLSFiles'
	// caFile) and what servers verify client and peer certificates with.
	CAFile string
	// CertFile and KeyFile are a certificate for 127.0.0.1 and localhost,
	// for server and client use: the servers' client and raft ports.
	CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile are a client's certificate.
	ClientCertFile, ClientKeyFile string
	// Pool holds the CA's certificate, for a tls.Config's RootCAs.
	Pool *x509.CertPool

	ca  *testca.CA
	dir string
}

// NewCA makes a CA and its files. It fails the test if it cannot.
func NewCA(t testing.TB) *CA {
	t.Helper()
	ca, err := testca.New("waymakertest CA")
	if err != nil {
		t.Fatalf("waymakertest: NewCA: %v", err)
	}
	c := &CA{ca: ca, dir: t.TempDir(), Pool: x509.NewCertPool()}
	c.Pool.AddCert(ca.Cert)
	c.CAFile = filepath.Join(c.dir, "ca.pem")
	if err := os.WriteFile(c.CAFile, ca.PEM(), 0o600); err != nil {
		t.Fatalf("waymakertest: NewCA: %v", err)
	}
	c.CertFile, c.KeyFile = c.Issue(t, "server", []string{"127.0.0.1", "localhost"}, time.Time{}, time.Time{})
	c.ClientCertFile, c.ClientKeyFile = c.Issue(t, "client", nil, time.Time{}, time.Time{})
	return c
}

// Issue writes a new certificate signed by the CA, named name, for hosts
// (IP addresses or DNS names; none for a client), usable by servers and
// clients, valid from notBefore to notAfter (zero values: an hour ago, a
// day from now; a past notAfter makes an expired one). It returns the
// paths of the certificate and its key. Writing over the files a server
// uses rotates its certificate.
func (c *CA) Issue(t testing.TB, name string, hosts []string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := c.ca.Issue(name, hosts, notBefore, notAfter)
	if err != nil {
		t.Fatalf("waymakertest: Issue %s: %v", name, err)
	}
	certFile, keyFile = filepath.Join(c.dir, name+".pem"), filepath.Join(c.dir, name+"-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatalf("waymakertest: Issue %s: %v", name, err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatalf("waymakertest: Issue %s: %v", name, err)
	}
	return certFile, keyFile
}

// ClientTLS returns a client configuration that trusts the CA and
// presents ClientCertFile, for waymaker.WithTLS.
func (c *CA) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
	if err != nil {
		t.Fatalf("waymakertest: ClientTLS: %v", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.Pool, Certificates: []tls.Certificate{cert}}
}

// WithTLS serves the client port over TLS with ca's CertFile; in
// StartCluster the raft port too, with mutual TLS between the nodes
// (server.Config's PeerTLSCertFile, PeerTLSKeyFile and PeerCAFile). Clients
// connect with waymaker.WithTLSFiles(ca.CAFile, "", "").
func WithTLS(ca *CA) Option { return func(o *options) { o.ca, o.mutual = ca, false } }

// WithMutualTLS is WithTLS and also requires clients to present a
// certificate signed by ca (server.Config.ClientCAFile): connect with
// waymaker.WithTLSFiles(ca.CAFile, ca.ClientCertFile, ca.ClientKeyFile).
func WithMutualTLS(ca *CA) Option { return func(o *options) { o.ca, o.mutual = ca, true } }

// applyTLS sets cfg's TLS files from the options; peer sets the raft
// port's too.
func (o *options) applyTLS(cfg *server.Config, peer bool) {
	if o.ca == nil {
		return
	}
	cfg.TLSCertFile, cfg.TLSKeyFile = o.ca.CertFile, o.ca.KeyFile
	if o.mutual {
		cfg.ClientCAFile = o.ca.CAFile
	}
	if peer {
		cfg.PeerTLSCertFile, cfg.PeerTLSKeyFile, cfg.PeerCAFile = o.ca.CertFile, o.ca.KeyFile, o.ca.CAFile
	}
}

package e2e

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/testca"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

// The suite's matrix. By default its servers are plaintext and open. Two
// variables put every server the suite's helpers start (start,
// startEmbedded, and the clusters started with withSuite) behind the
// server's security, and its clients (connect, connectCluster) through it,
// so every call of every subsystem passes the same checks and a path
// around them shows as a failing test:
//
//   - WAYMAKER_E2E_AUTH=1: authentication and permissions on, with a token
//     whose user holds *:*:admin, which the clients send;
//   - WAYMAKER_E2E_TLS=1: mutual TLS on the client port (and, in clusters,
//     on the raft port and between nodes), with a CA made for the run; the
//     clients present its client certificate.
//
// .ci/run runs the suite once with both.
var (
	suiteAuth = os.Getenv("WAYMAKER_E2E_AUTH") != ""
	suiteTLS  = os.Getenv("WAYMAKER_E2E_TLS") != ""
	suiteCA   *waymakertest.CA // with suiteTLS, made by setUpSuite
	suiteDir  string
)

const suiteToken = "e2e-suite-admin-token-0123456789"

// suiteDirEnv hands a test's child process (fence_process_test.go) the
// parent's CA files, so it connects as the parent's clients do.
const suiteDirEnv = "WAYMAKER_E2E_TLS_DIR"

var suiteDirOwned bool // setUpSuite made suiteDir (not a child's parent)

// setUpSuite makes the run's CA when the suite runs with TLS, or takes the
// parent's in a child process.
func setUpSuite() error {
	if !suiteTLS {
		return nil
	}
	if dir := os.Getenv(suiteDirEnv); dir != "" {
		suiteDir = dir
		suiteCA = suiteFiles(dir) // a child's clients need only the file names
		return nil
	}
	dir, err := os.MkdirTemp("", "waymaker-e2e-tls-")
	if err != nil {
		return err
	}
	suiteDir, suiteDirOwned = dir, true
	ca, err := testca.New("waymaker e2e CA")
	if err != nil {
		return err
	}
	until := time.Now().Add(24 * time.Hour)
	node, nodeKey, err := ca.Issue("waymaker e2e node", []string{"127.0.0.1", "localhost"}, time.Now().Add(-time.Hour), until)
	if err != nil {
		return err
	}
	client, clientKey, err := ca.Issue("e2e-client", nil, time.Now().Add(-time.Hour), until)
	if err != nil {
		return err
	}
	c := suiteFiles(dir)
	for _, f := range []struct {
		path string
		pem  []byte
	}{
		{c.CAFile, ca.PEM()},
		{c.CertFile, node}, {c.KeyFile, nodeKey},
		{c.ClientCertFile, client}, {c.ClientKeyFile, clientKey},
	} {
		if err := os.WriteFile(f.path, f.pem, 0o600); err != nil {
			return fmt.Errorf("e2e suite CA: %w", err)
		}
	}
	c.Pool = x509.NewCertPool()
	c.Pool.AppendCertsFromPEM(ca.PEM())
	suiteCA = c
	return nil
}

// suiteFiles names the suite CA's files in dir.
func suiteFiles(dir string) *waymakertest.CA {
	return &waymakertest.CA{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "node.pem"), KeyFile: filepath.Join(dir, "node-key.pem"),
		ClientCertFile: filepath.Join(dir, "client.pem"), ClientKeyFile: filepath.Join(dir, "client-key.pem"),
	}
}

func tearDownSuite() {
	if suiteDirOwned {
		_ = os.RemoveAll(suiteDir)
	}
}

// withSuite is the options every server the suite starts gets, then
// more: the check that every mutation carries a request id
// (retry_test.go), and the security the matrix asks for.
func withSuite(t testing.TB, more ...waymakertest.Option) []waymakertest.Option {
	opts := []waymakertest.Option{withRequestIDCheck(t)}
	if suiteAuth {
		opts = append(opts, waymakertest.WithAuth(map[string]string{"suite": suiteToken}, server.AuthBootstrap{
			Roles: map[string][]string{"admin": {"*:*:admin"}}, Users: map[string][]string{"suite": {"admin"}},
		}))
	}
	if suiteTLS {
		opts = append(opts, waymakertest.WithMutualTLS(suiteCA))
	}
	return append(opts, more...)
}

// suiteClientOptions are the options the suite's clients connect with.
func suiteClientOptions() []waymaker.Option {
	var opts []waymaker.Option
	if suiteAuth {
		opts = append(opts, waymaker.WithPerRPCCredentials(waymakertest.Token(suiteToken)))
	}
	if suiteTLS {
		opts = append(opts, waymaker.WithTLSFiles(suiteCA.CAFile, suiteCA.ClientCertFile, suiteCA.ClientKeyFile))
	}
	return opts
}

package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/auth"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
)

// authEventually retries f until it succeeds or d passes, failing with its
// last error.
func authEventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", d, err)
		}
		<-tick.C
	}
}

// A role change is replicated: it takes effect on every node, and a write
// sent to a follower is forwarded with the caller's identity (the leader
// checks it again, as that caller).
func TestAuthClusterRoleChangeOnEveryNode(t *testing.T) {
	c := waymakertest.StartCluster(t, 3, waymakertest.WithAuth(authTokens, authBoot))
	ctx := testCtx(t, 60*time.Second)
	root := connectAs(t, "root", c.Addrs()...)
	// The bootstrap is applied by whichever node leads.
	authEventually(t, 10*time.Second, func() error {
		_, err := root.KeyValue().Create(ctx, kv.Config{Name: "late-1"})
		return err
	})
	apps := make([]*waymaker.Client, 3)
	for i := range apps {
		apps[i] = connectAs(t, "app", c.Node(i).Addr())
	}
	put := func(i int, bucket string) error {
		_, err := apps[i].KeyValue().Bucket(bucket).Put(ctx, "k", []byte("v"))
		return err
	}
	for i := range apps {
		if err := put(i, "late-1"); !errors.Is(err, waymaker.ErrPermissionDenied) {
			t.Fatalf("node %d: before the grant: %v", i, err)
		}
	}
	grants := slices.Concat(authBoot.Roles["orders"], []string{"kv:late-*:write"})
	if err := root.Auth().PutRole(ctx, auth.Role{Name: "orders", Grants: grants}); err != nil {
		t.Fatal(err)
	}
	for i := range apps {
		authEventually(t, 10*time.Second, func() error {
			me, err := apps[i].Auth().WhoAmI(ctx)
			if err == nil && !slices.Contains(me.Grants, "kv:late-*:write") {
				err = fmt.Errorf("node %d does not grant it yet: %v", i, me.Grants)
			}
			return err
		})
		// Served by the leader; from a follower, forwarded to it.
		if err := put(i, "late-1"); err != nil {
			t.Fatalf("node %d (leader %d): after the grant: %v", i, c.Leader(), err)
		}
		// Still nothing outside the grants, on any node.
		if _, err := root.KeyValue().Create(ctx, kv.Config{Name: fmt.Sprintf("other-%d", i)}); err != nil {
			t.Fatal(err)
		}
		denied(t, put(i, fmt.Sprintf("other-%d", i)), "kv", fmt.Sprintf("other-%d", i), "write")
	}
	// Revoking takes effect on every node too.
	if err := root.Auth().PutRole(ctx, auth.Role{Name: "orders", Grants: authBoot.Roles["orders"]}); err != nil {
		t.Fatal(err)
	}
	for i := range apps {
		authEventually(t, 10*time.Second, func() error {
			if err := put(i, "late-1"); !errors.Is(err, waymaker.ErrPermissionDenied) {
				return fmt.Errorf("node %d after the revoke: %v", i, err)
			}
			return nil
		})
	}
	// A node that joins later (its AddVoter carries the node token)
	// catches up with the rules and enforces them.
	j := c.Join()
	joined := connectAs(t, "app", c.Node(j).Addr())
	authEventually(t, 10*time.Second, func() error {
		me, err := joined.Auth().WhoAmI(ctx)
		if err == nil && !slices.Equal(me.Roles, []string{"orders"}) {
			err = fmt.Errorf("joined node: %v", me.Roles)
		}
		return err
	})
	_, err := joined.KeyValue().Bucket("late-1").Put(ctx, "k", []byte("v"))
	denied(t, err, "kv", "late-1", "write")

	// Nobody can claim to be forwarded: a client's forwarded-identity
	// metadata without the node token is ignored.
	spoof := connectAs(t, "", c.Node(0).Addr())
	sctx := metadata.AppendToOutgoingContext(ctx, "waymaker-auth-identity", "root", "waymaker-forwarded", "1")
	if _, err := spoof.KeyValue().Bucket("late-1").Get(sctx, "k"); !errors.Is(err, waymaker.ErrUnauthenticated) {
		t.Fatalf("a spoofed forwarded identity: %v", err)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// No token, value or payload appears in any log line, at debug level:
// calls with good and bad tokens, writes, publishes, refusals, and a
// tokens file reloaded with a token in the clear.
func TestAuthNoSecretInLogs(t *testing.T) {
	var logs syncBuffer
	var tokensFile string
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(&logs), zapcore.DebugLevel))
	srv := waymakertest.Start(t, waymakertest.WithAuth(authTokens, authBoot), waymakertest.WithConfig(func(c *server.Config) {
		c.Logger = log
		c.Auth.TokensReload = 10 * time.Millisecond
		tokensFile = c.Auth.TokensFile
	}))
	ctx := testCtx(t, 30*time.Second)
	const (
		value     = "value-secret-7f3a91"
		payload   = "payload-secret-c0ffee"
		wrongTok  = "tok-wrong-5e5e5e5e5e"
		plainTok  = "tok-in-the-clear-abab"
		lockValue = "lock-request-secret"
	)
	root, app := connectAs(t, "root", srv.Addr()), connectAs(t, "app", srv.Addr())
	if _, err := root.KeyValue().Create(ctx, kv.Config{Name: "orders-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.KeyValue().Bucket("orders-1").Put(ctx, "k", []byte(value)); err != nil {
		t.Fatal(err)
	}
	if _, err := root.KeyValue().Create(ctx, kv.Config{Name: "closed"}); err != nil {
		t.Fatal(err)
	}
	_, err := app.KeyValue().Bucket("closed").Put(ctx, "k", []byte(value))
	denied(t, err)
	if _, err := root.Streams().Create(ctx, stream.Config{Name: "events"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Streams().Stream("events").Publish(ctx, "events.x", []byte(payload)); err != nil {
		t.Fatal(err)
	}
	if _, err := connectAs(t, wrongTok, srv.Addr()).KeyValue().Bucket("orders-1").Get(ctx, "k"); !errors.Is(err, waymaker.ErrUnauthenticated) {
		t.Fatal(err)
	}
	// A tokens file edited by mistake with a token in the clear is
	// refused, and the refusal does not quote it.
	if err := os.WriteFile(tokensFile+".new", []byte("bob: "+plainTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tokensFile+".new", tokensFile); err != nil {
		t.Fatal(err)
	}
	authEventually(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "tokens file not reloaded") {
			return errors.New("no log line for the broken tokens file")
		}
		return nil
	})
	// The previous tokens still work.
	if _, err := app.KeyValue().Bucket("orders-1").Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, `"level":"DEBUG"`) && !strings.Contains(out, `"L":"DEBUG"`) {
		t.Fatalf("no debug line was logged; the test checks nothing:\n%.2000s", out)
	}
	secrets := []string{value, payload, wrongTok, plainTok}
	for _, tok := range authTokens {
		secrets = append(secrets, tok)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			i := strings.Index(out, s)
			t.Errorf("the logs hold the secret %q: ...%s...", s, out[max(0, i-300):min(len(out), i+100)])
		}
	}
}

// A verified client certificate is an identity: its first URI SAN, else
// its Subject CommonName; its roles apply as a token user's do.
func TestAuthClientCertificateIdentity(t *testing.T) {
	ca, caKey := authTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	serverCert := authTestCert(t, ca, caKey, pkix.Name{CommonName: "waymaker"}, nil, true)
	byCN := authTestCert(t, ca, caKey, pkix.Name{CommonName: "svc-cert"}, nil, false)
	u, _ := url.Parse("spiffe://test/svc-uri")
	byURI := authTestCert(t, ca, caKey, pkix.Name{CommonName: "ignored"}, []*url.URL{u}, false)
	boot := authBoot
	boot.Users = map[string][]string{"root": {"admin"}, "svc-cert": {"orders"}, "spiffe://test/svc-uri": {"reader"}}
	srv := waymakertest.Start(t, waymakertest.WithAuth(authTokens, boot), waymakertest.WithConfig(func(c *server.Config) {
		c.GRPCOptions = append(c.GRPCOptions, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12,
		})))
	}))
	ctx := testCtx(t, 30*time.Second)
	dial := func(opts ...waymaker.Option) *waymaker.Client {
		c, err := waymaker.Connect(ctx, srv.Addr(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	tlsWith := func(certs ...tls.Certificate) waymaker.Option {
		return waymaker.WithTLS(&tls.Config{RootCAs: pool, Certificates: certs, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	}
	// Over TLS the SDK's own WithToken works.
	root := dial(tlsWith(), waymaker.WithToken(authTokens["root"]))
	if _, err := root.KeyValue().Create(ctx, kv.Config{Name: "orders-1"}); err != nil {
		t.Fatal(err)
	}
	cn, uri := dial(tlsWith(byCN)), dial(tlsWith(byURI))
	for _, tc := range []struct {
		c    *waymaker.Client
		name string
	}{{cn, "svc-cert"}, {uri, "spiffe://test/svc-uri"}} {
		me, err := tc.c.Auth().WhoAmI(ctx)
		if err != nil || me.Name != tc.name || me.Method != "certificate" {
			t.Fatalf("whoami: %+v %v, want %s by certificate", me, err, tc.name)
		}
	}
	if _, err := cn.KeyValue().Bucket("orders-1").Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	_, err := uri.KeyValue().Bucket("orders-1").Put(ctx, "k", []byte("v"))
	denied(t, err, "spiffe://test/svc-uri", "kv", "orders-1", "write")
	if e, err := uri.KeyValue().Bucket("orders-1").Get(ctx, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("read by certificate: %v %v", e, err)
	}
	// TLS without a certificate or a token is no identity.
	if _, err := dial(tlsWith()).KeyValue().Open(ctx, "orders-1"); !errors.Is(err, waymaker.ErrUnauthenticated) {
		t.Fatalf("no certificate: %v", err)
	}
}

func authTestCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "auth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

var authTestSerial = struct {
	sync.Mutex
	n int64
}{n: 100}

func authTestCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, subj pkix.Name, uris []*url.URL, isServer bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	authTestSerial.Lock()
	authTestSerial.n++
	serial := authTestSerial.n
	authTestSerial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: subj, URIs: uris,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if isServer {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// The same in a cluster, through a follower (forwarded to the leader with
// the node token): no token, node token, value or payload in any node's
// debug log.
func TestAuthNoSecretInClusterLogs(t *testing.T) {
	var logs syncBuffer
	var nodeToken string
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(&logs), zapcore.DebugLevel))
	c := waymakertest.StartCluster(t, 3, waymakertest.WithAuth(authTokens, authBoot), waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.Logger = log.With(zap.String("node", cfg.NodeID))
		nodeToken = cfg.Auth.NodeToken
	}))
	ctx := testCtx(t, 30*time.Second)
	const value, wrongTok = "cluster-value-secret-91", "tok-wrong-cluster-77"
	root := connectAs(t, "root", c.Addrs()...)
	authEventually(t, 10*time.Second, func() error {
		_, err := root.KeyValue().Create(ctx, kv.Config{Name: "orders-1"})
		return err
	})
	follower := (c.Leader() + 1) % 3
	app := connectAs(t, "app", c.Node(follower).Addr())
	if _, err := app.KeyValue().Bucket("orders-1").Put(ctx, "k", []byte(value)); err != nil {
		t.Fatal(err)
	}
	if e, err := app.KeyValue().Bucket("orders-1").Get(ctx, "k"); err != nil || string(e.Value) != value {
		t.Fatalf("get through a follower: %v %v", e, err)
	}
	if _, err := connectAs(t, wrongTok, c.Node(follower).Addr()).KeyValue().Bucket("orders-1").Get(ctx, "k"); !errors.Is(err, waymaker.ErrUnauthenticated) {
		t.Fatal(err)
	}
	out := logs.String()
	if nodeToken == "" || !strings.Contains(out, `"level":"DEBUG"`) && !strings.Contains(out, `"L":"DEBUG"`) {
		t.Fatalf("no node token (%q) or no debug line; the test checks nothing", nodeToken)
	}
	secrets := []string{value, wrongTok, nodeToken}
	for _, tok := range authTokens {
		secrets = append(secrets, tok)
	}
	for _, s := range secrets {
		if i := strings.Index(out, s); i >= 0 {
			t.Errorf("the logs hold the secret %q: ...%s...", s, out[max(0, i-300):min(len(out), i+100)])
		}
	}
}

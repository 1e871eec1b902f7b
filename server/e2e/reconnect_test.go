package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// reconnectBound is transport's documented bound (transport/doc.go): a
// long-lived client is back within 1 s of the server's return.
const reconnectBound = time.Second

// outages are the server outages TestLongLivedClientReconnectsWithinBound
// rides out. CI keeps the short default; the figures come from
// `go test -run TestLongLivedClientReconnectsWithinBound ./e2e/ -args -outages=2s,10s,30s`.
var outages = flag.String("outages", "2s", "comma-separated server outages for the reconnect test")

// outage stops srv, keeps it down for d (the outage being simulated, not
// synchronisation), restarts it on its data dir at the same address, and
// returns when it is ready. reopened is when its port accepted connections
// again: waymakertest binds it before the server has replayed its log.
func outage(srv *waymakertest.Server, d time.Duration) (reopened, ready time.Time) {
	srv.Stop()
	<-time.After(d)
	reopened = time.Now()
	srv.Restart()
	return reopened, time.Now()
}

// connectDefault connects with the SDK's default options: the reconnect
// behaviour under test is the one users get.
func connectDefault(t *testing.T, addr string) *waymaker.Client {
	t.Helper()
	c, err := waymaker.Connect(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestLongLivedClientReconnectsWithinBound(t *testing.T) {
	for _, o := range strings.Split(*outages, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(o))
		if err != nil {
			t.Fatalf("-outages: %v", err)
		}
		t.Run(d.String(), func(t *testing.T) {
			srv := waymakertest.Start(t, withSessionMode(), waymakertest.WithTempDataDir())
			c := connectDefault(t, srv.Addr())
			b := kvBucket(t, c, waymaker.KVConfig{})
			ctx := testCtx(t, d+30*time.Second)
			if _, err := b.Put(ctx, "k", []byte("before")); err != nil {
				t.Fatal(err)
			}
			// A call in flight through the outage keeps the client trying
			// to reconnect, as a busy client does.
			waiting := make(chan error, 1)
			srv.Stop()
			go func() {
				_, err := b.Get(ctx, "k")
				waiting <- err
			}()
			reopened, ready := outage(srv, d)
			e, err := b.Get(ctx, "k")
			first := time.Since(ready)
			if err != nil || !bytes.Equal(e.Value, []byte("before")) {
				t.Fatalf("first call after a %v outage = %+v, %v", d, e, err)
			}
			if err := <-waiting; err != nil {
				t.Fatalf("call waiting through the outage = %v", err)
			}
			waited := time.Since(ready)
			t.Logf("outage %v: server ready %v after its port reopened; first call after the restart took %v; the call waiting through the outage returned %v after the server was ready (%v after the port reopened)",
				d, ready.Sub(reopened), first, waited, waited+ready.Sub(reopened))
			if first > reconnectBound || waited > reconnectBound {
				t.Fatalf("after a %v outage: first call %v, waiting call %v after the server was ready; the bound is %v", d, first, waited, reconnectBound)
			}
		})
	}
}

func TestPutWithDeadlineSucceedsOnceServerIsBack(t *testing.T) {
	srv := waymakertest.Start(t, withSessionMode(), waymakertest.WithTempDataDir())
	c := connectDefault(t, srv.Addr())
	b := kvBucket(t, c, waymaker.KVConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.Put(ctx, "warm", []byte("x")); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	put := make(chan error, 1)
	go func() {
		_, err := b.Put(ctx, "k", []byte("during the outage"))
		put <- err
	}()
	_, ready := outage(srv, 3*time.Second)
	if err := <-put; err != nil {
		t.Fatalf("Put with a 30 s deadline issued during a 3 s outage = %v", err)
	}
	late := time.Since(ready)
	t.Logf("Put issued during a 3 s outage returned %v after the server was ready", late)
	if late > reconnectBound {
		t.Fatalf("Put returned %v after the server was ready; the bound is %v", late, reconnectBound)
	}
	e, err := b.Get(testCtx(t, 10*time.Second), "k")
	if err != nil || string(e.Value) != "during the outage" {
		t.Fatalf("Get after the outage = %+v, %v", e, err)
	}
}

func TestMessageLimitIsTheSameOnBothSides(t *testing.T) {
	srv := waymakertest.Start(t, withSuite(t)...)
	c := connect(t, srv.Addr())
	s := newStream(t, c, waymaker.StreamConfig{})
	ctx := testCtx(t, 60*time.Second)
	batch := func(n int) []stream.Message {
		payload := bytes.Repeat([]byte("p"), 1<<20-4096)
		msgs := make([]stream.Message, n)
		for i := range msgs {
			msgs[i] = stream.Message{Subject: s.Name(), Data: payload}
		}
		return msgs
	}
	// Six MiB, over gRPC's default 4 MiB, is within the one limit.
	acks, err := s.PublishBatch(ctx, batch(6))
	if err != nil {
		t.Fatalf("6 MiB batch: %v", err)
	}
	for i, a := range acks {
		if a.Err != nil {
			t.Fatalf("6 MiB batch, message %d: %v", i, a.Err)
		}
	}
	// Seventeen MiB is refused by the SDK, naming the limit, before it is sent.
	_, err = s.PublishBatch(ctx, batch(17))
	var e *waymaker.Error
	if !errors.As(err, &e) || e.Kind != transport.KindInvalid || !strings.Contains(e.Message, strconv.Itoa(transport.MaxMessageSize)) {
		t.Fatalf("17 MiB batch = %v, want a KindInvalid error naming the %d-byte limit", err, transport.MaxMessageSize)
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs != 6 {
		t.Fatalf("stream after the refused batch: %+v, %v; want the 6 messages of the first batch only", info, err)
	}
	// The server enforces the same limit on a client that skips the check,
	// and gRPC's ResourceExhausted is answered at once.
	creds := insecure.NewCredentials()
	if suiteTLS {
		creds = credentials.NewTLS(suiteCA.ClientTLS(t))
	}
	cc, err := grpc.NewClient("passthrough:///"+srv.Addr(), grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	msgs := make([]*streampb.StreamPublishMessage, 17)
	for i := range msgs {
		msgs[i] = &streampb.StreamPublishMessage{Subject: s.Name(), Data: batch(1)[0].Data}
	}
	_, err = streampb.NewStreamServiceClient(cc).PublishBatch(ctx, &streampb.StreamServicePublishBatchRequest{Messages: msgs})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("raw 17 MiB request = %v, want ResourceExhausted from the server's limit", err)
	}
}

// selfSigned returns a certificate for 127.0.0.1 signed by itself.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "waymaker e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func TestTLSHandshakeFailureSurfacesAsHandshakeError(t *testing.T) {
	cert := selfSigned(t)
	srv := waymakertest.Start(t, withSessionMode(), waymakertest.WithConfig(func(cfg *server.Config) {
		cfg.GRPCOptions = append(cfg.GRPCOptions, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	}))
	trust := func(c tls.Certificate) *tls.Config {
		pool := x509.NewCertPool()
		pool.AddCert(c.Leaf)
		return &tls.Config{RootCAs: pool}
	}
	ctx := testCtx(t, 20*time.Second)

	// Trusting the server's certificate works: the server's TLS is sound.
	good, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithTLS(trust(cert)))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if _, err := good.CreateKV(ctx, waymaker.KVConfig{Name: name(t)}); err != nil {
		t.Fatalf("CreateKV over trusted TLS: %v", err)
	}

	// Trusting another CA: the call fails at once with the handshake error.
	bad, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithTLS(trust(selfSigned(t))))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = bad.KeyValue().Bucket(name(t)).Get(ctx, "k")
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get over untrusted TLS = %v: want the handshake error, not a deadline", err)
	}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("Get over untrusted TLS = %v, want it to wrap *tls.CertificateVerificationError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "TLS handshake") || !strings.Contains(msg, "certificate signed by unknown authority") {
		t.Fatalf("error %q does not name the handshake and certificate problem", msg)
	}
}

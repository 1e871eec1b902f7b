package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
)

// reconnectBound is the package doc's promise: a Conn is back within 1 s
// of the server's return, whatever the outage's length.
const reconnectBound = time.Second

func callDoWith(ctx context.Context, conn *Conn, arg string) (doResp, error) {
	r := new(commonpb.Result)
	err := conn.Invoke(ctx, "/waymaker.test.Seq/Do", wrapperspb.String(arg), r)
	return doResp{r}, err
}

func TestInvokeRefusesOversizedRequestBeforeSending(t *testing.T) {
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc)
	conn, err := Dial(context.Background(), []string{s.addr}, WithMaxMessageSize(1024))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) {
		return callDoWith(ctx, conn, strings.Repeat("x", 2000))
	})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindInvalid || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("oversized call = %v, want a KindInvalid invalid_argument error", err)
	}
	if !strings.Contains(e.Message, "1024") || !strings.Contains(e.Message, "MaxMessageSize") {
		t.Fatalf("error %q does not name the limit (1024 bytes, MaxMessageSize)", e.Message)
	}
	if n := svc.doCalls.Load(); n != 0 {
		t.Fatalf("server saw %d calls: an oversized request must not be sent", n)
	}
	// Just under the limit goes through.
	if _, err := Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) {
		return callDoWith(ctx, conn, strings.Repeat("x", 1000))
	}); err != nil {
		t.Fatalf("call under the limit: %v", err)
	}
}

func TestDefaultMessageLimitIsSixteenMiB(t *testing.T) {
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc, grpc.MaxRecvMsgSize(32<<20))
	conn := dialTest(t, s.addr)
	// 6 MiB, over gRPC's own 4 MiB default, is sent.
	if _, err := Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) {
		return callDoWith(ctx, conn, strings.Repeat("x", 6<<20))
	}); err != nil {
		t.Fatalf("6 MiB request: %v", err)
	}
	_, err := Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) {
		return callDoWith(ctx, conn, strings.Repeat("x", MaxMessageSize))
	})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), strconv.Itoa(MaxMessageSize)) {
		t.Fatalf("request over 16 MiB = %v, want invalid_argument naming %d", err, MaxMessageSize)
	}
	if n := svc.doCalls.Load(); n != 1 {
		t.Fatalf("server saw %d calls, want 1", n)
	}
}

func TestResourceExhaustedIsNotRetried(t *testing.T) {
	svc := &seqService{doResults: []doResult{{code: codes.ResourceExhausted}}}
	s := serve(t, "127.0.0.1:0", svc)
	conn := dialTest(t, s.addr)
	_, err := Call(context.Background(), conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	var e *Error
	if !errors.As(err, &e) || e.Code != codes.ResourceExhausted.String() {
		t.Fatalf("Call = %v, want ResourceExhausted", err)
	}
	if n := svc.doCalls.Load(); n != 1 {
		t.Fatalf("server saw %d calls, want 1: the same message exceeds the limit again", n)
	}
}

// outage stops s and serves svc again at the same address after d. The
// wait is the outage being simulated, not synchronisation.
func outage(t *testing.T, s *testServer, svc *seqService, d time.Duration) (back chan time.Time) {
	t.Helper()
	s.stop()
	back = make(chan time.Time, 1)
	timer := time.AfterFunc(d, func() {
		serve(t, s.addr, svc)
		back <- time.Now()
	})
	t.Cleanup(func() { timer.Stop() })
	return back
}

func TestCallWithDeadlineRetriesPastMaxElapsed(t *testing.T) {
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc)
	conn, err := Dial(context.Background(), []string{s.addr}, WithBackoff(Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, MaxElapsed: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	back := outage(t, s, svc, 500*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := Call(ctx, conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) }); err != nil {
		t.Fatalf("idempotent call with a 20 s deadline over a 0.5 s outage = %v; its deadline, not MaxElapsed (50ms), bounds its retries", err)
	}
	<-back
}

func TestCallGoesOnWhenServerReturnsNotAtNextBackoffStep(t *testing.T) {
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc)
	// Ten seconds between retries: only the connection turning ready can
	// make the call succeed within the bound.
	conn, err := Dial(context.Background(), []string{s.addr}, WithBackoff(Backoff{Initial: 10 * time.Second, Max: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := callDo(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	back := outage(t, s, svc, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = Call(ctx, conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	done := time.Now()
	if err != nil {
		t.Fatalf("call during an outage = %v", err)
	}
	if late := done.Sub(<-back); late > reconnectBound {
		t.Fatalf("call succeeded %v after the server was back; the bound is %v", late, reconnectBound)
	}
}

func TestDeadlineDuringOutageNamesLastFailure(t *testing.T) {
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc)
	s.stop()
	conn := dialTest(t, s.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Call(ctx, conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "Unavailable") {
		t.Fatalf("error %q does not say what the last attempt met (Unavailable)", err)
	}
}

// A deadline that ends an attempt in flight (not the wait between
// attempts) still says what the attempt before it met.
func TestDeadlineDuringAttemptNamesLastFailure(t *testing.T) {
	svc := &seqService{doResults: []doResult{{code: codes.Unavailable}, {stall: true}}, stalled: make(chan struct{})}
	s := serve(t, "127.0.0.1:0", svc)
	t.Cleanup(func() { close(svc.stalled) }) // before the server stops
	conn := dialTest(t, s.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Call(ctx, conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call = %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "Unavailable") {
		t.Fatalf("error %q does not say what the last attempt met (Unavailable)", err)
	}
}

// selfSigned returns a TLS certificate for 127.0.0.1 signed by itself.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "waymaker test"},
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

func TestTLSHandshakeFailureNamesTheCertificateProblem(t *testing.T) {
	served, trusted := selfSigned(t), selfSigned(t)
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc, grpc.Creds(credentials.NewServerTLSFromCert(&served)))
	pool := x509.NewCertPool()
	pool.AddCert(trusted.Leaf)
	conn, err := Dial(context.Background(), []string{s.addr}, WithTLS(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, attempt := range []string{"first call", "later call"} {
		_, err = Call(ctx, conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s = %v: a refused handshake must not be retried into a deadline", attempt, err)
		}
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Fatalf("%s = %v, want it to wrap the *tls.CertificateVerificationError", attempt, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "TLS handshake") || !strings.Contains(msg, "certificate") {
			t.Fatalf("%s: error %q does not name the handshake and certificate problem", attempt, msg)
		}
	}
	if n := svc.doCalls.Load(); n != 0 {
		t.Fatalf("server answered %d calls over an untrusted connection", n)
	}
}

func TestTLSHandshakeFailureIsNotReportedOnceTheServerIsGone(t *testing.T) {
	served, trusted := selfSigned(t), selfSigned(t)
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc, grpc.Creds(credentials.NewServerTLSFromCert(&served)))
	pool := x509.NewCertPool()
	pool.AddCert(trusted.Leaf)
	conn, err := Dial(context.Background(), []string{s.addr}, WithTLS(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var verr *tls.CertificateVerificationError
	if _, err := callDo(context.Background(), conn); !errors.As(err, &verr) {
		t.Fatalf("call = %v, want the certificate error", err)
	}
	s.stop()
	// Once the latest connection attempt is refused, calls say so and are
	// retried like any outage, instead of repeating the old handshake error.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := Call(ctx, conn, Idempotent, func(ctx context.Context) (doResp, error) { return callDo(ctx, conn) })
		cancel()
		if !errors.As(err, &verr) {
			if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "TLS handshake") {
				t.Fatalf("call to a stopped server = %v, want a deadline after retrying a refused connection", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the server stopped, calls still report the old handshake failure: %v", err)
		}
	}
}

func TestFollowRebindsWhenServerReturnsNotAtNextBackoffStep(t *testing.T) {
	svc := &seqService{total: 30, pauseAt: 10}
	s := serve(t, "127.0.0.1:0", svc)
	conn, err := Dial(context.Background(), []string{s.addr}, WithBackoff(Backoff{Initial: 10 * time.Second, Max: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []uint64
	var back chan time.Time
	err = follow(ctx, conn, 30, &got, func(seq uint64) {
		if seq == 10 {
			back = outage(t, s, svc, 300*time.Millisecond)
		}
	})
	done := time.Now()
	if err != nil {
		t.Fatalf("Follow across an outage: %v", err)
	}
	wantSequence(t, got, 30)
	if late := done.Sub(<-back); late > reconnectBound {
		t.Fatalf("stream resumed %v after the server was back; the bound is %v", late, reconnectBound)
	}
}

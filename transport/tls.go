package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// WithTLSFiles dials with TLS from PEM files, the common case in one line:
// caFile is the CA that signed the server's certificate ("" trusts the
// system's roots), and certFile and keyFile, given together or not at all,
// are this client's certificate and key for a server that requires one
// (mutual TLS, waymakerd --client-ca). The server's certificate must name
// the host dialed. TLS 1.2 is the minimum.
//
// The files are read when Dial applies the option; a missing or unusable
// file makes Dial fail with a KindInvalid error naming the parameter and
// the file, and nothing is dialed. A program that also sets other fields
// (ServerName, a custom VerifyPeerCertificate) calls LoadTLSFiles and
// passes the result, adjusted, to WithTLS.
func WithTLSFiles(caFile, certFile, keyFile string) Option {
	return optionFunc(func(o *options) {
		cfg, err := LoadTLSFiles(caFile, certFile, keyFile)
		if err != nil {
			o.err = err
			return
		}
		o.tls = cfg
	})
}

// LoadTLSFiles builds the client TLS configuration WithTLSFiles dials
// with: RootCAs from caFile (nil, the system's roots, when it is ""), the
// client certificate from certFile and keyFile (both or neither), TLS 1.2
// at least. Its error is a KindInvalid *Error naming the parameter and the
// file.
func LoadTLSFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, Invalid("WithTLSFiles", "caFile: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, Invalid("WithTLSFiles", "caFile %q: holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile == "" && keyFile == "":
	case certFile == "" || keyFile == "":
		return nil, Invalid("WithTLSFiles", "certFile %q and keyFile %q: give both (a client certificate and its key) or neither", certFile, keyFile)
	default:
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, Invalid("WithTLSFiles", "certFile %q, keyFile %q: %v", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// errTLSRefused marks a mapped error whose cause is a TLS or certificate
// problem recognised only from gRPC's text (the server refused this
// client's certificate after a TLS 1.3 handshake had completed on the
// client's side): like a typed handshake refusal, it is not retried.
var errTLSRefused = errors.New("TLS refused")

// tlsProblem names the certificate or TLS problem that err (or, when gRPC
// passed it on as text only, msg) shows, in words a reader can act on, and
// reports false when it shows none. Typed errors are looked at first, then
// the texts crypto/tls and crypto/x509 are known to write.
func tlsProblem(err error, msg string) (string, bool) {
	var (
		invalid  x509.CertificateInvalidError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "the server's certificate has expired or is not valid yet (check its dates, and this machine's clock)", true
	case errors.As(err, &unknown):
		return "the server's certificate is signed by an unknown authority: give the CA that signed it (WithTLSFiles caFile, or tls.Config.RootCAs)", true
	case errors.As(err, &hostname):
		return fmt.Sprintf("the server's certificate does not name the address dialed (name mismatch: it is valid for %s, not %q)", certNames(hostname.Certificate), hostname.Host), true
	case errors.As(err, &record):
		return "the server does not speak TLS on this port (a plaintext server? dial it without WithTLS, or enable TLS on the server)", true
	}
	if err != nil && msg == "" {
		msg = err.Error()
	}
	switch {
	case strings.Contains(msg, "certificate has expired or is not yet valid"):
		return "the server's certificate has expired or is not valid yet (check its dates, and this machine's clock)", true
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return "the server's certificate is signed by an unknown authority: give the CA that signed it (WithTLSFiles caFile, or tls.Config.RootCAs)", true
	case strings.Contains(msg, "x509: certificate is valid for"), strings.Contains(msg, "x509: certificate is not valid for any names"):
		return "the server's certificate does not name the address dialed (name mismatch)", true
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the server does not speak TLS on this port (a plaintext server? dial it without WithTLS, or enable TLS on the server)", true
	case strings.Contains(msg, "tls: certificate required"):
		return "the server requires a client certificate and this client sent none: give one (WithTLSFiles certFile and keyFile, or tls.Config.Certificates)", true
	case strings.Contains(msg, "remote error: tls: expired certificate"):
		return "the server refused this client's certificate: it has expired", true
	case strings.Contains(msg, "remote error: tls: unknown certificate authority"), strings.Contains(msg, "remote error: tls: bad certificate"):
		return "the server refused this client's certificate: it is not signed by a CA the server trusts (the server's --client-ca)", true
	case strings.Contains(msg, "remote error: tls:"):
		return "the server refused the TLS handshake (" + msg[strings.Index(msg, "remote error: tls:"):] + ")", true
	}
	return "", false
}

// certNames lists the names a certificate is valid for.
func certNames(c *x509.Certificate) string {
	if c == nil {
		return "no name"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no name"
	}
	return strings.Join(names, ", ")
}

// explainTLS rewrites a mapped Unavailable error whose cause is a
// certificate or TLS problem so that its message says which, keeping Kind
// and Code (errors.Is(err, ErrUnavailable) still holds) and the cause.
//
// A message the server wrote ("waymaker: ...", such as a node that cannot
// reach its leader over TLS) is the server's own account and is kept.
func explainTLS(e *Error) *Error {
	if e.Kind != KindRPC || e.Code != codes.Unavailable.String() || strings.HasPrefix(e.Message, "waymaker") {
		return e
	}
	reason, ok := tlsProblem(nil, e.Message)
	if !ok {
		return e
	}
	return &Error{Kind: e.Kind, Code: e.Code, Message: reason + ": " + e.Message, Err: errors.Join(e.Err, errTLSRefused), LeaderHint: e.LeaderHint}
}

// plaintextHint adds to a plaintext Conn's Unavailable error, when the
// server closed the connection before its HTTP/2 preface (what a TLS-only
// server does to a plaintext client), that the server may require TLS.
// The error stays retryable: a server that is restarting does the same.
func plaintextHint(ctx context.Context, err error) error {
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "error reading server preface") {
		return err
	}
	e, ok := MapError(ctx, err).(*Error)
	if !ok || e.Code != codes.Unavailable.String() {
		return err
	}
	e.Message += " (the server closed the connection at once: if it serves TLS, dial it with WithTLSFiles or WithTLS)"
	return e
}

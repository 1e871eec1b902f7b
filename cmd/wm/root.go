package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// Exit codes. They are API: scripts branch on them.
const (
	exitOK          = 0
	exitError       = 1 // anything else: the server refused (exists, wrong_revision, ...), an I/O error
	exitUsage       = 2 // bad command line, or an argument refused as invalid
	exitNotFound    = 3 // the bucket, stream, key, object, ... does not exist
	exitUnreachable = 4 // no server answered: refused connection, TLS failure, no answer within --timeout
)

const exitCodesHelp = `Exit codes:
  0  success
  1  other failure (the server refused: exists, wrong_revision, not_owner, ...)
  2  usage: a bad command line, or an argument refused as invalid_argument
  3  not found: the bucket, stream, consumer, key, object or store does not exist
  4  connection: no server answered (refused, TLS failure, nothing within --timeout)

Errors are one line on stderr: the SDK's message, with its code.`

const defaultAddr = "127.0.0.1:8818"

// usageError marks an error as the caller's: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// app is one invocation: its streams, its flags and, once a command needs
// it, its client.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	servers                              string
	token, tlsCA, tlsCert, tlsKey, sname string
	useTLS                               bool
	timeout                              time.Duration
	json                                 bool
	progress                             string // object put and get: auto, always, never

	started bool // a command's RunE was reached: earlier errors are usage errors
	client  *waymaker.Client
}

// run executes one command line and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.client != nil {
		_ = a.client.Close()
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "wm:", oneLine(err.Error()))
	return a.exitCode(err)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (a *app) exitCode(err error) int {
	var ue usageError
	var we *waymaker.Error
	switch {
	case !a.started, errors.As(err, &ue), flagRuleError(err):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitError
	case errors.As(err, &we):
		switch {
		case we.Kind == waymaker.KindInvalid, we.Code == "invalid_argument", we.Code == "InvalidArgument":
			return exitUsage
		case we.Code == "not_found", we.Code == "NotFound":
			return exitNotFound
		case we.Kind == waymaker.KindRPC && (we.Code == "Unavailable" || we.Code == "DeadlineExceeded"):
			return exitUnreachable
		}
	case errors.Is(err, context.DeadlineExceeded):
		return exitUnreachable
	}
	return exitError
}

// flagRuleError reports cobra's checks of required and grouped flags, which
// run after PersistentPreRun and return plain errors.
func flagRuleError(err error) bool {
	m := err.Error()
	return strings.HasPrefix(m, "required flag(s)") || strings.HasPrefix(m, "if any flags in the group")
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "wm",
		Short: "wm is the waymaker command line",
		Long: `wm reads and changes what a waymaker server holds, and generates load against it.

Every command prints a readable table, or JSON with --json. The server is
--server host:port[,host:port...], else $WAYMAKER_ADDR, else ` + defaultAddr + `.`,
		Example: `  wm kv put config greeting hello
  wm kv get config greeting --json
  wm stream add orders --subjects 'orders.>'
  wm stream pub orders orders.new '{"id":1}'
  wm bench kv --ops 10000 --clients 8
  wm --server a:8818,b:8818,c:8818 cluster members`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRun: func(*cobra.Command, []string) {
			a.started = true
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetUsageTemplate(root.UsageTemplate() + "\n" + exitCodesHelp + "\n")
	f := root.PersistentFlags()
	f.StringVarP(&a.servers, "server", "s", "", "server addresses, comma-separated (default $WAYMAKER_ADDR, else "+defaultAddr+")")
	f.StringVar(&a.token, "token", "", "bearer token sent with every call (needs TLS)")
	f.BoolVar(&a.useTLS, "tls", false, "dial with TLS, verifying the server against the system roots (implied by --tls-ca)")
	f.StringVar(&a.tlsCA, "tls-ca", "", "PEM file of the CA that signed the server's certificate")
	f.StringVar(&a.tlsCert, "tls-cert", "", "PEM file of this client's certificate (with --tls-key)")
	f.StringVar(&a.tlsKey, "tls-key", "", "PEM file of this client's private key (with --tls-cert)")
	f.StringVar(&a.sname, "tls-server-name", "", "name to verify in the server's certificate (default: the host dialed)")
	f.DurationVar(&a.timeout, "timeout", 10*time.Second, "bound on each call; a one-shot command's whole run")
	f.BoolVar(&a.json, "json", false, "print JSON instead of a table")

	root.AddCommand(a.kvCmd(), a.streamCmd(), a.consumerCmd(), a.nextCmd(), a.lockCmd(),
		a.hashCmd(), a.setCmd(), a.queueCmd(), a.sketchCmd(), a.cacheCmd(),
		a.objectCmd(), a.clusterCmd(), a.benchCmd())
	return root
}

// group is a command that only holds subcommands: run bare it is a usage
// error naming them.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q (wm %s --help lists them)", args[0], cmd.CommandPath(), cmd.Name())
			}
			return usagef("%q needs a subcommand (wm %s --help lists them)", cmd.CommandPath(), cmd.Name())
		},
	}
	c.AddCommand(subs...)
	return c
}

// connect returns the client, dialing on first use.
func (a *app) connect(ctx context.Context) (*waymaker.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	addrs := a.servers
	if addrs == "" {
		addrs = a.getenv("WAYMAKER_ADDR")
	}
	if addrs == "" {
		addrs = defaultAddr
	}
	var list []string
	for _, s := range strings.Split(addrs, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	if len(list) == 0 {
		return nil, usagef("--server %q: no address", addrs)
	}
	if a.timeout <= 0 {
		return nil, usagef("--timeout %v: must be positive", a.timeout)
	}
	opts := []waymaker.Option{waymaker.WithCallTimeout(a.timeout)}
	tc, err := a.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, waymaker.WithTLS(tc))
	}
	if a.token != "" {
		if tc == nil {
			return nil, usagef("--token needs TLS (--tls or --tls-ca): a token is never sent in plaintext")
		}
		opts = append(opts, waymaker.WithToken(a.token))
	}
	c, err := waymaker.ConnectMulti(ctx, list, opts...)
	if err != nil {
		return nil, err
	}
	a.client = c
	return c, nil
}

func (a *app) tlsConfig() (*tls.Config, error) {
	if !a.useTLS && a.tlsCA == "" && a.tlsCert == "" && a.tlsKey == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: a.sname}
	if a.tlsCA != "" {
		pem, err := os.ReadFile(a.tlsCA)
		if err != nil {
			return nil, usagef("--tls-ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--tls-ca %s: no PEM certificate in it", a.tlsCA)
		}
		tc.RootCAs = pool
	}
	if (a.tlsCert == "") != (a.tlsKey == "") {
		return nil, usagef("--tls-cert and --tls-key go together")
	}
	if a.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(a.tlsCert, a.tlsKey)
		if err != nil {
			return nil, usagef("--tls-cert/--tls-key: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// oneShot is the context of a command that makes a few calls and ends:
// --timeout bounds all of it.
func (a *app) oneShot(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// isTerminal reports whether w is a terminal (progress bars and live lines
// are drawn only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"git.awesomike.com/pub/waymaker-client/go/server"
)

// hashToken is "waymakerd hash-token [--user NAME]": it reads a bearer
// token from the first line of stdin (never from the command line, which
// other users of the machine can see) and prints its tokens file form,
// "sha256:<64 hex>", or a whole line "NAME: sha256:<64 hex>" with --user.
func hashToken(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("waymakerd hash-token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	user := fs.String("user", "", "print a whole tokens file line for this user")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("hash-token: %w (usage: echo -n TOKEN | waymakerd hash-token [--user NAME])", err)
	}
	if fs.NArg() > 0 {
		return errors.New("hash-token: the token is read from stdin, not from the command line (usage: waymakerd hash-token [--user NAME] < token-file)")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1<<16)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("hash-token: read stdin: %w", err)
	}
	tok := strings.TrimRight(line, "\r\n")
	switch {
	case tok == "":
		return errors.New("hash-token: no token on stdin")
	case len(tok) > 4096:
		return fmt.Errorf("hash-token: the token is %d bytes, limit 4096", len(tok))
	case strings.ContainsAny(tok, " \t"):
		return errors.New("hash-token: a token cannot hold spaces or tabs")
	}
	if *user != "" {
		if strings.ContainsAny(*user, ": \t") || strings.HasPrefix(*user, "@") {
			return fmt.Errorf("hash-token: --user %q: a user name cannot hold ':' or whitespace or start with '@'", *user)
		}
		_, err = fmt.Fprintf(stdout, "%s: %s\n", *user, server.HashToken(tok))
		return err
	}
	_, err = fmt.Fprintln(stdout, server.HashToken(tok))
	return err
}

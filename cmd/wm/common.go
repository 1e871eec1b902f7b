package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

type clientT = *waymaker.Client

// simple runs one call under --timeout and reports it: v with --json, text
// otherwise. fn reads its context from cmd.
func (a *app) simple(cmd *cobra.Command, fn func(c clientT) error, v any, text string) error {
	ctx, cancel := a.oneShot(cmd)
	defer cancel()
	c, err := a.connect(ctx)
	if err != nil {
		return err
	}
	cmd.SetContext(ctx)
	if err := fn(c); err != nil {
		return err
	}
	return a.emit(v, func(w io.Writer) { fmt.Fprintln(w, text) })
}

// maxStdin bounds a value read from stdin: no server takes more in one call.
const maxStdin = waymaker.MaxMessageSize

// payload is args[i], or stdin when it is "-" or missing.
func (a *app) payload(args []string, i int) ([]byte, error) {
	if len(args) > i && args[i] != "-" {
		return []byte(args[i]), nil
	}
	b, err := io.ReadAll(io.LimitReader(a.stdin, maxStdin+1))
	if err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	if len(b) > maxStdin {
		return nil, usagef("stdin: more than %d bytes; no single value may be that large", maxStdin)
	}
	return b, nil
}

// stopped turns the end of a command that runs until Ctrl-C into success.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func tsPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return ts(*t)
}

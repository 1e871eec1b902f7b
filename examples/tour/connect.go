package main

import (
	"context"
	"errors"
	"fmt"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

func init() { register(0, "connecting and errors", tourConnect) }

// tourConnect shows what every call returns when something is wrong: one
// error type with a kind and a code.
func tourConnect(ctx context.Context, c *waymaker.Client) error {
	_, err := waymaker.Connect(ctx, "")
	var werr *waymaker.Error
	if !errors.As(err, &werr) {
		return fmt.Errorf("connecting to an empty address gave %v, want a *waymaker.Error", err)
	}
	fmt.Printf("Connect(\"\") -> kind=%s code=%s message=%q\n", werr.Kind, werr.Code, werr.Message)
	fmt.Printf("this client talks to %v\n", c.Conn().Addrs())
	return nil
}

package transport

import (
	"context"
	"errors"
	"testing"
)

// OnClose functions run once, in order, while the Conn still works (calls
// can be made and goroutines started), and none can be added after Close.
func TestOnCloseRunsBeforeTeardown(t *testing.T) {
	svc := &seqService{}
	s := serve(t, "127.0.0.1:0", svc)
	conn, err := Dial(context.Background(), []string{s.addr})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	if !conn.OnClose(func() {
		order = append(order, "first")
		if _, err := callDoWith(context.Background(), conn, "in hook"); err != nil {
			t.Errorf("call from OnClose: %v", err)
		}
		ran := make(chan struct{})
		if !conn.Go(func(ctx context.Context) { close(ran) }) {
			t.Error("Go from OnClose refused")
		}
		<-ran
	}) {
		t.Fatal("OnClose refused on an open Conn")
	}
	conn.OnClose(func() { order = append(order, "second") })
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != "first" || order[1] != "second" {
		t.Fatalf("hooks ran %v, want [first second] once", order)
	}
	if conn.OnClose(func() { t.Error("hook added after Close ran") }) {
		t.Fatal("OnClose accepted after Close")
	}
	if _, err := callDoWith(context.Background(), conn, "after"); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close = %v, want ErrClosed", err)
	}
}

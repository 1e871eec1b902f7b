// Command wm is the waymaker command line: it lists, reads and changes what
// a waymaker server holds (KV buckets, streams and consumers, locks, the
// Redis-shaped collections, sketches, cache policies, object stores), shows
// and changes a cluster's membership, and generates load against it,
// through the Go SDK only.
//
//	wm kv put config greeting hello
//	wm kv get config greeting
//	wm stream add orders --subjects 'orders.>'
//	wm stream pub orders orders.new '{"id":1}'
//	wm bench kv --ops 10000 --clients 8
//	wm --server a:8818,b:8818,c:8818 cluster status
//
// Every command takes --json for scripts; otherwise it prints a readable
// table. The server is --server host:port[,host:port...] or WAYMAKER_ADDR
// (default 127.0.0.1:8818). The exit code tells a script what went wrong:
// see `wm --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

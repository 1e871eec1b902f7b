// Command otel traces waymaker calls with OpenTelemetry, on both sides of
// the wire, and prints the spans with the stdout exporter.
//
//	go run ./examples/otel
//
// The client side is two SDK options: the stats handler, and unary calls
// (a stats handler sees RPCs, and the SDK's default session path carries
// many calls on one long-lived stream, so it would see that stream instead
// of each call):
//
//	waymaker.Connect(ctx, addr, waymaker.WithSessions(false), waymaker.WithDialOptions(
//		grpc.WithStatsHandler(otelgrpc.NewClientHandler())))
//
// and the server side one field of server.Config:
//
//	server.New(server.Config{GRPCOptions: []grpc.ServerOption{
//		grpc.StatsHandler(otelgrpc.NewServerHandler())}})
//
// With a W3C trace-context propagator on both, every server span is the
// child of the client span of the same call, and both sit under the
// application's own span ("checkout" here). The program embeds its server,
// so it sees both sides; pointed at another server (WAYMAKER_ADDR) it traces
// the client side only. The dependencies (otel, otelgrpc, the stdout
// exporter) are the examples module's: the SDK requires none of them.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/kv"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, os.Getenv("WAYMAKER_ADDR")); err != nil {
		fmt.Fprintln(os.Stderr, "otel:", err)
		os.Exit(1)
	}
}

// run traces a few KV calls, writing spans (JSON, one object each) and a
// short narration to w. With addr empty it embeds a traced server.
func run(ctx context.Context, w io.Writer, addr string) error {
	exp, err := stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint())
	if err != nil {
		return err
	}
	// A syncer exports each span as it ends: no batching goroutine, and
	// nothing is lost when the program ends. A real service batches
	// (sdktrace.WithBatcher) to an OTLP collector.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	prop := propagation.TraceContext{}

	if addr == "" {
		srv, err := server.New(server.Config{GRPCOptions: []grpc.ServerOption{
			grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(prop))),
		}})
		if err != nil {
			return err
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			srv.Stop()
			return err
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(lis) }()
		defer func() { srv.Stop(); <-served }()
		addr = lis.Addr().String()
		fmt.Fprintf(w, "embedded a traced waymaker server on %s\n", addr)
	}

	client, err := waymaker.Connect(ctx, addr, waymaker.WithSessions(false), waymaker.WithDialOptions(
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(prop)))))
	if err != nil {
		return err
	}
	defer client.Close()

	// The application's span: every call below is its child.
	ctx, span := tp.Tracer("examples/otel").Start(ctx, "checkout")
	fmt.Fprintf(w, "trace %s: the spans below share it\n", span.SpanContext().TraceID())
	b, err := client.KeyValue().GetOrCreate(ctx, kv.Config{Name: "carts"})
	if err == nil {
		_, err = b.Put(ctx, "cart.42", []byte(`{"items":3}`))
	}
	if err == nil {
		_, err = b.Get(ctx, "cart.42")
	}
	span.End()
	return err
}

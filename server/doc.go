// Package server is the waymaker reference server, embeddable in any Go
// program: New(Config) starts it (in memory by default, durable with
// Config.DataDir), Serve(net.Listener) serves gRPC, Stop stops it.
//
// Every mutation goes through hashicorp/raft, even on one node, and is
// applied by one deterministic state machine per subsystem
// (internal/fsm). Subsystems are plugged in in one place,
// registerSubsystems in services.go.
//
// For tests, server/waymakertest starts one on a loopback port; the daemon
// is server/cmd/waymakerd.
package server

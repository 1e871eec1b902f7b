// Package server is the waymaker reference server, embeddable in any Go
// program: New(Config) starts it (in memory by default, durable with
// Config.DataDir), Serve(net.Listener) serves gRPC, Stop stops it.
//
// New returns once a restart has replayed its whole raft log, which takes
// what the data needs (Config.StartTimeout bounds only the wait for
// leadership). To answer health checks during that time, call Open, then
// Serve, then Start: until Start returns, the gRPC health service answers
// NOT_SERVING and every other call Unavailable, and the replay's progress
// is logged (entries replayed of the total, every second).
//
// Every mutation goes through hashicorp/raft, even on one node, and is
// applied by one deterministic state machine per subsystem
// (internal/fsm). Subsystems are plugged in in one place,
// registerSubsystems in services.go.
//
// For tests, server/waymakertest starts one on a loopback port; the daemon
// is server/cmd/waymakerd.
package server

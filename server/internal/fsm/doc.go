// Package fsm is the replicated state machine of the waymaker server: the
// Command envelope every raft log entry carries, the Subsystem interface each
// deterministic state machine (locks, KV, streams, ...) implements, and the
// FSM that dispatches commands to subsystems and snapshots and restores them
// all as one raft snapshot.
//
// A subsystem author writes a Subsystem, registers it with FSM.Register
// (server/services.go is the one place that does), and proposes Commands
// with its own Name and Ops through the raft node. Time enters only as
// Command.AtMs and Tick's atMs, stamped by the leader, so replaying the log
// always reaches the same state.
package fsm

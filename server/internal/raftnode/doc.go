// Package raftnode runs the server's fsm.FSM under hashicorp/raft: a single
// voter bootstrapped on first start, in-memory stores by default or a bolt
// log plus file snapshots under a data directory, a Propose that stamps each
// command with the leader's clock and returns its apply result, and the
// leader ticker that proposes expiry ticks when a subsystem has a deadline
// due.
package raftnode

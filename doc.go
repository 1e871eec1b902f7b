// Package waymaker is the Go client for the waymaker coordination-and-data server.
//
// A Client hands out one client per subsystem (locks, KV, streams,
// collections, sketches, objects, cache); each lives in its own package
// and can be used alone on a transport.Conn.
package waymaker

package stream

import "time"

// SetAckCloseTimeout shortens the wait of Close for pending acks, so a test
// of a server that never answers stays quick; it returns the restore.
func SetAckCloseTimeout(d time.Duration) (restore func()) {
	old := ackCloseTimeout
	ackCloseTimeout = d
	return func() { ackCloseTimeout = old }
}

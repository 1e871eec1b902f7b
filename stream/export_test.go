package stream

import "time"

// SetAckCloseTimeout shortens the wait of Close for pending acks, so a test
// of a server that never answers stays quick; it returns the restore.
func SetAckCloseTimeout(d time.Duration) (restore func()) {
	old := ackCloseTimeout
	ackCloseTimeout = d
	return func() { ackCloseTimeout = old }
}

// PendingAcks is how many acks (Msg.Ack's and AckSync's) c's connection
// has handed over and the server has not answered yet.
func PendingAcks(c *Client) int {
	b := c.acks.Load()
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pending
}

package transport

// OnClose registers fn to run when Close is called, before anything is
// torn down: the Conn still makes calls and starts goroutines while fn
// runs, so fn can flush work it buffered (the stream client's pending
// acks). fn must bound its own running time; Close waits for it. It
// reports false, without registering fn, when Close has already been
// called.
func (c *Conn) OnClose(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed {
		return false
	}
	c.onClose = append(c.onClose, fn)
	return true
}

// runCloseHooks marks the Conn closing and runs the OnClose functions in
// the order they were registered. It reports false when another Close got
// there first.
func (c *Conn) runCloseHooks() bool {
	c.mu.Lock()
	if c.closing || c.closed {
		c.mu.Unlock()
		return false
	}
	c.closing = true
	hooks := c.onClose
	c.onClose = nil
	c.mu.Unlock()
	for _, fn := range hooks {
		fn()
	}
	return true
}

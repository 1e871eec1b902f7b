package park

import (
	"context"
	"sync"
	"time"
)

// Delay is a Waiter that fires once, a set time after Arm: what a loop
// returns when it chooses to let work gather for a moment before its next
// step. One Delay serves a loop for its whole life; Arm starts it again.
// The zero value is ready for Arm.
type Delay struct {
	mu    sync.Mutex
	gen   uint64 // counts Arm and Stop: a timer of an older one does nothing
	fired bool
	ch    chan struct{}
	cb    func()
	t     *time.Timer
}

// Arm starts d over, to fire after the given time, and returns it.
func (d *Delay) Arm(after time.Duration) *Delay {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	gen := d.gen
	if d.t != nil {
		d.t.Stop()
	}
	d.fired, d.cb, d.ch = false, nil, make(chan struct{})
	d.t = time.AfterFunc(after, func() { d.fire(gen) })
	return d
}

func (d *Delay) fire(gen uint64) {
	d.mu.Lock()
	if gen != d.gen || d.fired {
		d.mu.Unlock()
		return
	}
	d.fired = true
	close(d.ch)
	cb := d.cb
	d.cb = nil
	d.mu.Unlock()
	if cb != nil {
		cb()
	}
}

// C is closed when d fires.
func (d *Delay) C() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil { // never armed: it never fires
		d.ch = make(chan struct{})
	}
	return d.ch
}

// Wait returns once d has fired, or with ctx's error.
func (d *Delay) Wait(ctx context.Context) error {
	select {
	case <-d.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OnFire takes f to call when d fires, and reports true; false when it
// has fired already.
func (d *Delay) OnFire(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fired {
		return false
	}
	d.cb = f
	return true
}

// Stop ends d's timer and drops its callback: d does not fire until the
// next Arm.
func (d *Delay) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	d.cb = nil
	if d.t != nil {
		d.t.Stop()
	}
}

package park

import (
	"context"
	"testing"
	"time"
)

func TestDelayFiresOnceAfterArm(t *testing.T) {
	var d Delay
	fired := make(chan struct{}, 2)
	w := d.Arm(time.Millisecond)
	if !w.OnFire(func() { fired <- struct{}{} }) {
		t.Fatal("OnFire before the fire = false")
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("the callback did not run")
	}
	select {
	case <-w.C():
	default:
		t.Fatal("C not closed after the fire")
	}
	if w.OnFire(func() { fired <- struct{}{} }) {
		t.Fatal("OnFire after the fire = true")
	}
	if err := w.Wait(context.Background()); err != nil {
		t.Fatalf("Wait after the fire = %v", err)
	}
	// Armed again, it is a fresh wait.
	w = d.Arm(time.Hour)
	select {
	case <-w.C():
		t.Fatal("re-armed Delay is already closed")
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Wait(ctx); err == nil {
		t.Fatal("Wait on an unfired Delay ignored its context")
	}
	d.Stop()
}

func TestDelayStopDropsTheFire(t *testing.T) {
	var d Delay
	w := d.Arm(time.Hour)
	ran := make(chan struct{}, 1)
	w.OnFire(func() { ran <- struct{}{} })
	d.Stop()
	// A later arm fires; the stopped one must not have.
	w = d.Arm(time.Millisecond)
	done := make(chan struct{}, 1)
	w.OnFire(func() { done <- struct{}{} })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the second arm did not fire")
	}
	select {
	case <-ran:
		t.Fatal("a stopped Delay ran its callback")
	default:
	}
}

func TestDelayNeverArmedNeverFires(t *testing.T) {
	var d Delay
	select {
	case <-d.C():
		t.Fatal("an unarmed Delay fired")
	default:
	}
	d.Stop()
}

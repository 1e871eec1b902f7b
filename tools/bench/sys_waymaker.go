package main

import (
	"context"
	"fmt"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
)

// wmSys is a waymaker server the scenarios talk to through the SDK, over
// TCP on loopback like every peer.
type wmSys struct {
	c *waymaker.Client
}

func init() {
	systems["waymaker"] = func(e *Env) (func(), string, error) {
		if e.addr != "" {
			c, err := waymaker.Connect(context.Background(), e.addr)
			if err != nil {
				return nil, "", err
			}
			e.WM = &wmSys{c: c}
			return func() { c.Close() }, fmt.Sprintf("the waymaker server at %s (--addr), through the SDK", e.addr), nil
		}
		s, err := startEmbedded(e, "")
		if err != nil {
			return nil, "", err
		}
		e.WM = s.sys
		return s.stop, "waymaker reference server embedded in this process, no data dir (single-voter raft, log in memory), SDK over TCP on 127.0.0.1", nil
	}
	systems["waymaker-disk"] = func(e *Env) (func(), string, error) {
		if e.addr != "" {
			return nil, "", skipError{"with --addr only the server at that address is measured; the durable embedded server runs without --addr"}
		}
		s, err := startEmbedded(e, e.tmp+"/waymaker-data")
		if err != nil {
			return nil, "", err
		}
		e.WMD = s.sys
		return s.stop, "waymaker reference server embedded in this process with a data dir (raft log and snapshots in bbolt, fsync per commit), SDK over TCP on 127.0.0.1", nil
	}
}

type embedded struct {
	sys  *wmSys
	stop func()
}

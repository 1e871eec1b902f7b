package main

import (
	"context"
	"fmt"
	"net"

	"go.uber.org/zap"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
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

// startEmbedded runs a reference server in this process on a loopback port
// (dataDir "" keeps the raft log in memory) and connects the SDK to it.
func startEmbedded(e *Env, dataDir string) (*embedded, error) {
	srv, err := server.New(server.Config{DataDir: dataDir, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Stop()
		return nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	c, err := waymaker.Connect(context.Background(), lis.Addr().String())
	if err != nil {
		srv.Stop()
		<-served
		return nil, err
	}
	stop := func() {
		c.Close()
		srv.Stop()
		<-served
	}
	return &embedded{sys: &wmSys{c: c}, stop: stop}, nil
}

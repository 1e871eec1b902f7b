package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// The peers, each started inside this process (NATS, etcd) or on loopback
// (Redis), and spoken to through their usual Go clients over TCP, as the
// waymaker SDK speaks to its server.

type natsSys struct {
	nc *nats.Conn
	js jetstream.JetStream
}

type etcdSys struct {
	cli *clientv3.Client
}

type redisSys struct {
	rdb *redis.Client
}

func init() {
	systems["nats"] = startNATS
	systems["etcd"] = startEtcd
	systems["redis"] = startRedis
}

func startNATS(e *Env) (func(), string, error) {
	dir := filepath.Join(e.tmp, "nats")
	opts := &natsserver.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		NoLog:     true,
		NoSigs:    true,
		JetStream: true,
		StoreDir:  dir,
		// File storage syncs every write, as waymaker's raft log (bbolt) does
		// with a data dir: durability is compared like with like. Memory
		// storage is unaffected.
		SyncAlways:         true,
		JetStreamMaxMemory: 4 << 30,
		JetStreamMaxStore:  16 << 30,
		MaxPayload:         8 << 20,
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, "", err
	}
	go ns.Start()
	if !ns.ReadyForConnections(20 * time.Second) {
		ns.Shutdown()
		return nil, "", errors.New("nats-server not ready after 20s")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		ns.Shutdown()
		return nil, "", err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, "", err
	}
	e.NATS = &natsSys{nc: nc, js: js}
	stop := func() { nc.Close(); ns.Shutdown(); ns.WaitForShutdown() }
	return stop, fmt.Sprintf("nats-server %s embedded in this process, JetStream on, client nats.go %s over TCP on 127.0.0.1; memory storage, and file storage with sync_always (fsync per write) where durability is compared", natsserver.VERSION, nats.Version), nil
}

func startEtcd(e *Env) (func(), string, error) {
	cport, err := freePort()
	if err != nil {
		return nil, "", err
	}
	pport, err := freePort()
	if err != nil {
		return nil, "", err
	}
	cfg := embed.NewConfig()
	cfg.Name = "bench"
	cfg.Dir = filepath.Join(e.tmp, "etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cu, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(cport))
	pu, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(pport))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		etcd.Close()
		return nil, "", errors.New("etcd not ready after 30s")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{cu.Host}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		etcd.Close()
		return nil, "", err
	}
	e.Etcd = &etcdSys{cli: cli}
	stop := func() { cli.Close(); etcd.Close() }
	return stop, "etcd server v3.7.3 embedded in this process (go.etcd.io/etcd/server/v3/embed), client/v3 over gRPC on 127.0.0.1; etcd always writes and fsyncs its WAL, so it is compared with waymaker running on a data dir", nil
}

func startRedis(e *Env) (func(), string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", skipError{"redis-server is not on PATH (Debian: apt-get install redis-server); every Redis comparison is left out"}
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(e.tmp, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	// In memory, like waymaker without a data dir: no RDB snapshots, no AOF.
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), PoolSize: 128, MinIdleConns: 64})
	kill := func() { rdb.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err = rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			kill()
			return nil, "", fmt.Errorf("redis-server not answering after 10s: %w", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a child process we cannot be notified by
	}
	version := ""
	if info, err := rdb.Info(context.Background(), "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				version = v
			}
		}
	}
	e.Redis = &redisSys{rdb: rdb}
	return kill, fmt.Sprintf("redis-server %s (%s) on 127.0.0.1, in memory (no RDB, no AOF), client go-redis v9 over TCP with a pool of 128 connections", version, bin), nil
}

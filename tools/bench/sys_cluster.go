package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

// Three-node clusters of waymaker, etcd and NATS, each on loopback inside
// this process and each durable (fsync per commit): waymaker with a data dir
// per node, etcd (always durable), NATS JetStream file storage with
// sync_always, as the single-node durable comparisons use. Every system
// keeps its own default raft timeouts.

const clusterSize = 3

func init() {
	systems["waymaker-cluster"] = func(e *Env) (func(), string, error) {
		if e.addr != "" {
			return nil, "", skipError{"with --addr only the server at that address is measured; the embedded cluster runs without --addr"}
		}
		c, err := startWMCluster(e.ctx, filepath.Join(e.tmp, "waymaker-cluster"))
		if err != nil {
			return nil, "", err
		}
		e.WMC = c
		return c.stop, fmt.Sprintf("three waymaker reference servers embedded in this process, raft over TCP on 127.0.0.1, a data dir each (fsync per commit), default timeouts (heartbeat and election %s); SDK ConnectMulti over all three (calls round-robin, followers forward writes)", wmDefaultTimeout), nil
	}
	systems["etcd-cluster"] = func(e *Env) (func(), string, error) {
		c, err := startEtcdCluster(e.ctx, filepath.Join(e.tmp, "etcd-cluster"))
		if err != nil {
			return nil, "", err
		}
		e.EtcdC = c
		return c.stop, "three etcd v3.7.3 members embedded in this process (peer traffic over HTTP on 127.0.0.1), default timeouts (heartbeat 100ms, election 1s); client/v3 with all three endpoints", nil
	}
	systems["nats-cluster"] = func(e *Env) (func(), string, error) {
		c, err := startNATSCluster(e.ctx, filepath.Join(e.tmp, "nats-cluster"))
		if err != nil {
			return nil, "", err
		}
		e.NATSC = c
		return c.stop, fmt.Sprintf("three nats-server %s embedded in this process, one cluster (routes on 127.0.0.1), JetStream streams with 3 replicas on file storage with sync_always; nats.go given all three URLs", natsserver.VERSION), nil
	}
}

// wmDefaultTimeout is server.Config's default heartbeat and election
// timeout, which the cluster runs with.
const wmDefaultTimeout = 250 * time.Millisecond

// ---- waymaker

type wmNode struct {
	srv    *server.Server
	served chan error
	once   sync.Once
}

// halt kills (abrupt) or stops the node, once.
func (n *wmNode) halt(kill bool) {
	n.once.Do(func() {
		if kill {
			n.srv.Kill()
		} else {
			n.srv.Stop()
		}
		<-n.served
	})
}

type wmCluster struct {
	nodes []*wmNode
	addrs []string
	sys   *wmSys
}

// startWMCluster starts three nodes bootstrapped together, each with a data
// dir under dir, and connects the SDK to all of them.
func startWMCluster(ctx context.Context, dir string) (*wmCluster, error) {
	c := &wmCluster{}
	var boot []server.Peer
	var clientLis, raftLis []net.Listener
	closeLis := func() {
		for _, l := range append(clientLis, raftLis...) {
			l.Close()
		}
	}
	for i := range clusterSize {
		cl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeLis()
			return nil, err
		}
		clientLis = append(clientLis, cl)
		rl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeLis()
			return nil, err
		}
		raftLis = append(raftLis, rl)
		boot = append(boot, server.Peer{ID: fmt.Sprintf("node%d", i+1), Addr: rl.Addr().String()})
		c.addrs = append(c.addrs, cl.Addr().String())
	}
	for i := range clusterSize {
		srv, err := server.Open(server.Config{
			DataDir: filepath.Join(dir, boot[i].ID), NodeID: boot[i].ID,
			RaftListen: boot[i].Addr, RaftListener: raftLis[i], Bootstrap: boot,
			Logger: zap.NewNop(),
		})
		if err != nil {
			for _, n := range c.nodes {
				n.halt(false)
			}
			closeLis()
			return nil, err
		}
		n := &wmNode{srv: srv, served: make(chan error, 1)}
		go func() { n.served <- srv.Serve(clientLis[i]) }()
		c.nodes = append(c.nodes, n)
	}
	// Each node's Start waits for a leader, so all start at once.
	errs := make([]error, clusterSize)
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = n.srv.Start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.stop()
		return nil, err
	}
	cl, err := waymaker.ConnectMulti(ctx, c.addrs)
	if err != nil {
		c.stop()
		return nil, err
	}
	c.sys = &wmSys{c: cl}
	return c, nil
}

// leader waits until a node leads and returns its index.
func (c *wmCluster) leader(ctx context.Context) (int, error) {
	return waitFor(ctx, 10*time.Second, func() (int, bool) {
		for i, n := range c.nodes {
			if n.srv.IsLeader() {
				return i, true
			}
		}
		return 0, false
	})
}

func (c *wmCluster) stop() {
	if c.sys != nil {
		c.sys.c.Close()
	}
	for _, n := range c.nodes {
		n.halt(false)
	}
}

// ---- etcd

type etcdCluster struct {
	members []*embed.Etcd
	cli     *clientv3.Client
	bg      sync.WaitGroup // members closing after a kill
	closed  []bool
}

func startEtcdCluster(ctx context.Context, dir string) (*etcdCluster, error) {
	var cfgs []*embed.Config
	var initial []string
	for i := range clusterSize {
		cport, err := freePort()
		if err != nil {
			return nil, err
		}
		pport, err := freePort()
		if err != nil {
			return nil, err
		}
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i+1)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cu, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(cport))
		pu, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(pport))
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
		cfg.InitialClusterToken = "bench-cluster"
		initial = append(initial, cfg.Name+"="+pu.String())
		cfgs = append(cfgs, cfg)
	}
	c := &etcdCluster{members: make([]*embed.Etcd, clusterSize), closed: make([]bool, clusterSize)}
	errs := make([]error, clusterSize)
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		wg.Go(func() { c.members[i], errs[i] = embed.StartEtcd(cfg) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.stop()
		return nil, err
	}
	deadline := time.After(30 * time.Second)
	var endpoints []string
	for _, m := range c.members {
		select {
		case <-m.Server.ReadyNotify():
		case <-deadline:
			c.stop()
			return nil, errors.New("etcd cluster not ready after 30s")
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		}
		endpoints = append(endpoints, m.Config().AdvertiseClientUrls[0].Host)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.stop()
		return nil, err
	}
	c.cli = cli
	return c, nil
}

// leader waits until a running member leads and returns its index.
func (c *etcdCluster) leader(ctx context.Context) (int, error) {
	return waitFor(ctx, 10*time.Second, func() (int, bool) {
		for i, m := range c.members {
			if !c.closed[i] && m.Server.Leader() == m.Server.MemberID() {
				return i, true
			}
		}
		return 0, false
	})
}

// kill stops member i's raft at once, without handing leadership over
// (HardStop: its peers notice by their election timeout), and closes the
// rest of it in the background.
func (c *etcdCluster) kill(i int) {
	m := c.members[i]
	c.closed[i] = true
	m.Server.HardStop()
	c.bg.Go(m.Close)
}

func (c *etcdCluster) stop() {
	if c.cli != nil {
		c.cli.Close()
	}
	for i, m := range c.members {
		if m != nil && !c.closed[i] {
			c.closed[i] = true
			// Torn down at once: a graceful Close of the leader hands
			// leadership to a member that is closing too and waits out
			// its request timeout (7s).
			c.bg.Go(func() { m.Server.HardStop(); m.Close() })
		}
	}
	c.bg.Wait()
}

// ---- NATS

type natsCluster struct {
	servers []*natsserver.Server
	nc      *nats.Conn
	js      jetstream.JetStream
}

// natsNodeSpec is one node of a NATS cluster: enough to start it in this
// process or in a child process (sc_cluster_failover.go).
type natsNodeSpec struct {
	Name        string
	Port        int // client port
	ClusterPort int
	Routes      []string // every node's cluster address, host:port
	StoreDir    string
}

func natsClusterSpecs(dir string) ([]natsNodeSpec, error) {
	var specs []natsNodeSpec
	var routes []string
	for i := range clusterSize {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		cp, err := freePort()
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("n%d", i+1)
		specs = append(specs, natsNodeSpec{Name: name, Port: p, ClusterPort: cp, StoreDir: filepath.Join(dir, name)})
		routes = append(routes, "127.0.0.1:"+strconv.Itoa(cp))
	}
	for i := range specs {
		specs[i].Routes = routes
	}
	return specs, nil
}

// options are the server options of one node: JetStream on, file storage
// synced on every write (sync_always), as the durable single-node side.
func (s natsNodeSpec) options() *natsserver.Options {
	var routes []*url.URL
	for _, r := range s.Routes {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: r})
	}
	return &natsserver.Options{
		ServerName: s.Name,
		Host:       "127.0.0.1",
		Port:       s.Port,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   s.StoreDir,
		SyncAlways: true,
		Cluster:    natsserver.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: s.ClusterPort},
		Routes:     routes,

		JetStreamMaxMemory: 1 << 30,
		JetStreamMaxStore:  8 << 30,
		MaxPayload:         8 << 20,
	}
}

func (s natsNodeSpec) url() string { return "nats://127.0.0.1:" + strconv.Itoa(s.Port) }

func startNATSCluster(ctx context.Context, dir string) (*natsCluster, error) {
	specs, err := natsClusterSpecs(dir)
	if err != nil {
		return nil, err
	}
	c := &natsCluster{}
	var urls []string
	for _, s := range specs {
		ns, err := natsserver.NewServer(s.options())
		if err != nil {
			c.stop()
			return nil, err
		}
		go ns.Start()
		c.servers = append(c.servers, ns)
		urls = append(urls, s.url())
	}
	for _, ns := range c.servers {
		if !ns.ReadyForConnections(20 * time.Second) {
			c.stop()
			return nil, errors.New("nats-server not ready after 20s")
		}
	}
	if c.nc, c.js, err = natsConnectCluster(ctx, urls); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// natsConnectCluster connects to every URL and waits until JetStream
// answers with every peer of the cluster known (a meta leader elected and
// all three servers registered), so that replicated streams can be placed.
func natsConnectCluster(ctx context.Context, urls []string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	// The cluster has no event to wait on from a client: poll JetStream's
	// placement with a probe stream until it succeeds.
	_, err = waitFor(ctx, 60*time.Second, func() (struct{}, bool) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := js.CreateStream(pctx, jetstream.StreamConfig{Name: "probe", Subjects: []string{"probe.>"}, Replicas: clusterSize, Storage: jetstream.MemoryStorage}); err != nil {
			return struct{}{}, false
		}
		return struct{}{}, js.DeleteStream(pctx, "probe") == nil
	})
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("JetStream cluster: %w", err)
	}
	return nc, js, nil
}

func (c *natsCluster) stop() {
	if c.nc != nil {
		c.nc.Close()
	}
	for _, ns := range c.servers {
		ns.Shutdown()
	}
	for _, ns := range c.servers {
		ns.WaitForShutdown()
	}
}

// waitFor polls cond every 10ms until it holds, ctx ends or limit passes.
// It is for state that has no notification to wait on (another system's
// leader, a child process's cluster).
func waitFor[T any](ctx context.Context, limit time.Duration, cond func() (T, bool)) (T, error) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, ok := cond(); ok {
			return v, nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			var zero T
			return zero, fmt.Errorf("not reached within %s", limit)
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

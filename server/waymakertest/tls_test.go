package waymakertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server"
)

func TestStartWithMutualTLS(t *testing.T) {
	ca := NewCA(t)
	srv := Start(t, WithMutualTLS(ca))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithTLSFiles(ca.CAFile, ca.ClientCertFile, ca.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "secure"}); err != nil {
		t.Fatalf("call over mutual TLS: %v", err)
	}
	// Without a client certificate the server refuses, and says so.
	bare, err := waymaker.Connect(ctx, srv.Addr(), waymaker.WithTLSFiles(ca.CAFile, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	_, err = bare.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "secure"})
	if !errors.Is(err, waymaker.ErrUnavailable) || !strings.Contains(err.Error(), "client certificate") {
		t.Fatalf("call without a client certificate = %v, want Unavailable naming the client certificate", err)
	}
}

// A TLS cluster: raft runs over mutual TLS, a follower forwards writes to
// the leader's TLS client port with its peer certificate, and a node with
// a certificate from the same CA joins, catching up by a snapshot sent
// over peer TLS.
func TestClusterWithMutualTLS(t *testing.T) {
	ca := NewCA(t)
	core, logs := observer.New(zapcore.DebugLevel)
	c := StartCluster(t, 3, WithMutualTLS(ca), WithConfig(func(cfg *server.Config) {
		cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = 32, 20*time.Millisecond, 8
		if cfg.NodeID == "node4" {
			cfg.Logger = zap.New(core)
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	follower := (c.Leader() + 1) % 3
	client, err := waymaker.Connect(ctx, c.Node(follower).Addr(), waymaker.WithTLSFiles(ca.CAFile, ca.ClientCertFile, ca.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	bucket, err := client.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "tls"})
	if err != nil {
		t.Fatalf("write through a follower: %v", err)
	}
	// Past the snapshot threshold, so the joiner installs a snapshot.
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := w; i < 120; i += 8 {
				if _, err := bucket.Put(ctx, fmt.Sprintf("k%d", i), []byte("v")); err != nil {
					errs <- fmt.Errorf("put through a follower: %w", err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	i := c.Join()
	if logs.FilterMessage("Installed remote snapshot").Len() == 0 {
		t.Fatal("the joining node caught up without a snapshot; the test needs one sent over peer TLS")
	}
	joined, err := waymaker.Connect(ctx, c.Node(i).Addr(), waymaker.WithTLSFiles(ca.CAFile, ca.ClientCertFile, ca.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	defer joined.Close()
	st, err := joined.Cluster().Status(ctx)
	if err != nil || len(st.Members) != 4 {
		t.Fatalf("status through the joined node = %+v, %v; want 4 members", st, err)
	}
	jb, err := joined.GetOrCreateKV(ctx, waymaker.KVConfig{Name: "tls"})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := jb.Get(ctx, "k119"); err != nil || string(e.Value) != "v" {
		t.Fatalf("read on the joined node = %v, %v", e, err)
	}
}

// A node whose peer certificate comes from another CA cannot join: the
// leader checks its raft port before adding it, and refuses it with a
// clear error, so the cluster keeps its members.
func TestClusterRefusesAPeerFromAnotherCA(t *testing.T) {
	ca, other := NewCA(t), NewCA(t)
	c := StartCluster(t, 3, WithTLS(ca))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lead := c.Node(c.Leader()).Addr()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	raftLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Its client port and its trust are the cluster's; only its peer
	// certificate is from another CA.
	intruder, err := server.Open(server.Config{NodeID: "intruder", DataDir: t.TempDir(), UnsafeNoFsync: true,
		RaftListen: raftLis.Addr().String(), RaftListener: raftLis, Advertise: lis.Addr().String(), Join: lead,
		HeartbeatTimeout: clusterTimeouts, ElectionTimeout: clusterTimeouts, StartTimeout: 2 * time.Second,
		TLSCertFile: ca.CertFile, TLSKeyFile: ca.KeyFile,
		PeerTLSCertFile: other.CertFile, PeerTLSKeyFile: other.KeyFile, PeerCAFile: ca.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Stop()
	err = intruder.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "peer TLS check") || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("Start of a node with another CA's peer certificate = %v, want the peer TLS check refusal", err)
	}

	// An administrator cannot add it either.
	client, err := waymaker.Connect(ctx, lead, waymaker.WithTLSFiles(ca.CAFile, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	err = client.Cluster().AddVoter(ctx, "intruder", raftLis.Addr().String(), lis.Addr().String())
	if !errors.Is(err, waymaker.ErrInvalidArgument) || !strings.Contains(err.Error(), "peer TLS check") {
		t.Fatalf("AddVoter of the intruder = %v, want invalid_argument naming the peer TLS check", err)
	}
	st, err := client.Cluster().Status(ctx)
	if err != nil || len(st.Members) != 3 {
		t.Fatalf("status = %+v, %v; want the 3 members only", st, err)
	}
}

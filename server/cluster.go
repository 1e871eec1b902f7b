package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Metadata keys of the cluster's routing.
const (
	// forwardedKey marks a call a follower forwarded to the leader; the
	// receiver never forwards it again (a leader that lost its role
	// answers not_leader instead, which the client follows).
	forwardedKey = "waymaker-forwarded"
	// ReadConsistencyKey is the metadata key a client sets to "stale" to
	// have a read answered from the local state of whichever node it
	// reaches, without confirming leadership, or to "linearizable" to
	// override a server whose Config.StaleReads is set.
	ReadConsistencyKey = "waymaker-read"
)

// route says where a method is served in a cluster.
type route uint8

const (
	// routeLocal: served by the node asked, as it is (health, reflection,
	// Status, and any method not classified).
	routeLocal route = iota
	// routeLeader: a write (or a call that needs the leader's local state,
	// such as an object's blob): served by the leader; a follower forwards.
	routeLeader
	// routeRead: a read: served by the node asked; its handler passes the
	// read barrier (Deps.ReadBarrier) after validating the request.
	routeRead
)

// routes classifies every method from its proto options: NO_SIDE_EFFECTS
// is a read, anything else a write, with the few exceptions listed here.
func routes(g *grpc.Server) map[string]route {
	exceptions := map[string]route{
		// The leader's half of every read barrier.
		"/waymaker.v1.ClusterService/ReadIndex": routeLeader,
		// What this node knows; also answers without a leader.
		"/waymaker.v1.ClusterService/Status": routeLocal,
		// A session stream is served where it lands; each call it carries
		// passes this router as its unary call would (internal/session).
		"/waymaker.session.v1.SessionService/Call":      routeLocal,
		"/waymaker.session.v1.SessionService/Subscribe": routeLocal,
	}
	m := map[string]route{}
	for svc, info := range g.GetServiceInfo() {
		for _, mi := range info.Methods {
			full := "/" + svc + "/" + mi.Name
			if r, ok := exceptions[full]; ok {
				m[full] = r
				continue
			}
			if !strings.HasPrefix(svc, "waymaker.") {
				m[full] = routeLocal // health, reflection: about this node
				continue
			}
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc + "." + mi.Name))
			if err != nil {
				m[full] = routeLocal
				continue
			}
			opts, _ := d.(protoreflect.MethodDescriptor).Options().(*descriptorpb.MethodOptions)
			if opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS {
				m[full] = routeRead
			} else {
				m[full] = routeLeader
			}
		}
	}
	return m
}

// router forwards calls to the leader and holds reads behind the barrier.
type router struct {
	s      *Server
	routes map[string]route
	hold   time.Duration // how long a call waits for a leader to be known

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (rt *router) close() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, c := range rt.conns {
		_ = c.Close()
	}
	rt.conns = nil
}

func forwarded(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(forwardedKey)) > 0
}

// forwardContext carries the incoming metadata (tokens, test markers) to
// the leader, marked as forwarded.
func forwardContext(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	md = md.Copy()
	for _, k := range []string{":authority", "content-type", "user-agent", "grpc-timeout"} {
		delete(md, k)
	}
	md.Set(forwardedKey, "1")
	setForwardAuth(ctx, md)
	return metadata.NewOutgoingContext(ctx, md)
}

// errNoLeader answers a call that found no leader within hold.
func (rt *router) errNoLeader(hold time.Duration) error {
	return rt.unavailable(result.CodeUnavailable, fmt.Sprintf("waymaker: no leader to serve this call within %v (%s); retry", hold, rt.leaderHint("the last known leader is %s at %q, which this node cannot reach")))
}

// unavailable is an Unavailable status carrying, when this node knows a
// leader, a Result detail with code and the leader's client address in its
// leader_hint: a client that can reach the leader where this node cannot
// (a partition between nodes, not between client and leader) goes there
// next instead of trying other nodes blind.
func (rt *router) unavailable(code, msg string) error {
	st := status.New(codes.Unavailable, msg)
	if _, addr := rt.s.node.Leader(); addr != "" {
		r := result.Fail(code, msg)
		r.LeaderHint = addr
		if wd, err := st.WithDetails(r); err == nil {
			st = wd
		}
	}
	return st.Err()
}

// leaderHint names the leader this node knows, with its client address,
// in known's words (a format of the id and the address), or says none is.
func (rt *router) leaderHint(known string) string {
	id, addr := rt.s.node.Leader()
	if id == "" {
		return "no leader is known"
	}
	return fmt.Sprintf(known, id, addr)
}

// leader waits, up to the hold time, until a leader is known that is
// reachable, and returns nil when it is this node or a connection to it.
func (rt *router) leader(ctx context.Context) (*grpc.ClientConn, error) {
	c, _, err := rt.leaderID(ctx)
	return c, err
}

// leaderID is leader, also answering the leader's node id.
func (rt *router) leaderID(ctx context.Context) (*grpc.ClientConn, string, error) {
	d := rt.hold
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > d {
		d = time.Until(dl) // a caller that allows longer (Start's catch-up)
	}
	if _, ok := ctx.Value(longHold{}).(bool); !ok {
		d = rt.hold
	}
	hold := time.NewTimer(d)
	defer hold.Stop()
	for {
		changed, announced := rt.s.node.Changed(), rt.s.clusterSM.Changed()
		if rt.s.node.IsLeader() {
			return nil, rt.s.cfg.NodeID, nil
		}
		id, addr := rt.s.node.Leader()
		if id != "" && addr != "" && id != rt.s.cfg.NodeID && (rt.s.cfg.Faults == nil || !rt.s.cfg.Faults.CutOut(id)) {
			c, err := rt.conn(addr)
			return c, id, err
		}
		select {
		case <-changed:
		case <-announced:
		case <-hold.C:
			return nil, "", rt.errNoLeader(d)
		case <-ctx.Done():
			return nil, "", status.FromContextError(ctx.Err()).Err()
		case <-rt.s.stopping:
			return nil, "", status.Error(codes.Unavailable, "waymaker server is stopping")
		}
	}
}

func (rt *router) conn(addr string) (*grpc.ClientConn, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if c, ok := rt.conns[addr]; ok {
		return c, nil
	}
	if rt.conns == nil {
		rt.conns = map[string]*grpc.ClientConn{}
	}
	c, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(rt.s.tls.dialCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(rt.s.cfg.Limits.MaxMessageSize), grpc.MaxCallSendMsgSize(rt.s.cfg.Limits.MaxMessageSize)),
		// A leader that stops answering (paused, cut off) without closing
		// its connections is noticed by the pings, not by TCP.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 5 * time.Second, Timeout: 2 * time.Second, PermitWithoutStream: true}),
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
	)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "waymaker: dial the leader at %s: %v", addr, err)
	}
	rt.conns[addr] = c
	return c, nil
}

// awaitEstablished waits, up to the hold time, until this node, a leader,
// has established its term (its barrier applied every earlier entry): a
// handler that reads local state before it proposes (a blocking pop, a
// lock wait) must not see a new leader's state from before that. It
// returns at once on a node that does not lead: the handler's proposal
// then answers not_leader, which the client follows.
func (rt *router) awaitEstablished(ctx context.Context) {
	hold := time.NewTimer(rt.hold)
	defer hold.Stop()
	for {
		changed := rt.s.node.Changed()
		if rt.s.node.Ready() || !rt.s.node.IsLeader() {
			return
		}
		select {
		case <-changed:
		case <-hold.C:
			return
		case <-ctx.Done():
			return
		case <-rt.s.stopping:
			return
		}
	}
}

// forwardTo returns the context for a call forwarded to the leader id: it
// is cancelled as soon as this node sees another leader (or none), since
// a leader that lost its role, or was paused, may never answer. done ends
// the watch and reports whether the leader moved.
func (rt *router) forwardTo(ctx context.Context, id string) (fctx context.Context, done func() (moved bool)) {
	fctx, cancel := context.WithCancel(forwardContext(ctx))
	var moved atomic.Bool
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			changed := rt.s.node.Changed()
			if lid, _ := rt.s.node.Leader(); lid != id {
				moved.Store(true)
				cancel()
				return
			}
			select {
			case <-changed:
			case <-stop:
				return
			case <-fctx.Done():
				return
			}
		}
	}()
	return fctx, func() bool {
		close(stop)
		<-finished
		cancel()
		return moved.Load()
	}
}

// leadershipMoves are the calls that move leadership themselves, so the
// leader that took them answers after losing its role: their forwarding is
// not cut off when the leader changes.
var leadershipMoves = map[string]bool{
	"/waymaker.v1.ClusterService/TransferLeadership": true,
	"/waymaker.v1.ClusterService/RemoveServer":       true,
}

// errMoved answers a forwarded call whose leader lost its role before it
// answered: the outcome is unknown, and the client retries it (with its
// request id) on the new leader.
func errMoved(id string) error {
	return status.Errorf(codes.Unavailable, "waymaker: the leader %s lost its role before answering a forwarded call; its outcome is unknown", id)
}

// newMessage makes an empty message of a method's request (in) or
// response type.
func newMessage(fullMethod string, in bool) (proto.Message, error) {
	name := strings.ReplaceAll(strings.TrimPrefix(fullMethod, "/"), "/", ".")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, err
	}
	md := d.(protoreflect.MethodDescriptor)
	msg := md.Output()
	if in {
		msg = md.Input()
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(msg.FullName())
	if err != nil {
		return nil, err
	}
	return mt.New().Interface(), nil
}

// stale reports whether a read may skip the barrier.
func (rt *router) stale(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	switch v := md.Get(ReadConsistencyKey); {
	case len(v) > 0 && v[0] == "stale":
		return true
	case len(v) > 0 && v[0] == "linearizable":
		return false
	}
	return rt.s.cfg.StaleReads
}

// readBarrier returns once this node may serve a linearizable read: it has
// applied everything the leader had committed when the read arrived, and
// the leader confirmed it still led after that.
func (rt *router) readBarrier(ctx context.Context) error {
	if rt.stale(ctx) {
		return nil
	}
	return rt.barrier(ctx, rt.hold)
}

// barrier is the read barrier, seeking a leader for up to hold.
func (rt *router) barrier(ctx context.Context, hold time.Duration) error {
	// Leadership may move while the barrier is sought; each move restarts
	// it with the new leader, within the hold time.
	hctx, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	for {
		changed := rt.s.node.Changed()
		idx, err := rt.readIndex(hctx)
		if err == nil {
			return rt.catchUp(ctx, idx, hold)
		}
		if !errors.Is(err, errLeaderMoved) {
			return err
		}
		// Unavailable from the leader may not mean it moved: a leader that
		// is itself starting (the whole cluster restarted at once) refuses
		// every call until its own Start returns, and no leadership change
		// comes to wake this loop. So ask again after a bounded pause too.
		retry := time.NewTimer(100 * time.Millisecond)
		select {
		case <-changed:
		case <-retry.C:
		case <-hctx.Done():
			retry.Stop()
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return rt.errNoLeader(hold)
		}
		retry.Stop()
	}
}

// catchUp waits until this node has applied index (a read index the
// leader answered), for at most hold: a node cut off from the
// leader's appends (a one-way partition) may learn an index it will not
// reach while the cut lasts, and a read waiting on it for the caller's
// whole deadline would hold the caller there instead of letting it retry
// on a node that can serve it.
func (rt *router) catchUp(ctx context.Context, idx uint64, hold time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	err := rt.s.node.WaitApplied(wctx, idx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	case wctx.Err() != nil:
		return rt.unavailable(result.CodeUnavailable, fmt.Sprintf("waymaker: this node did not catch up to the leader's read index %d within %v (it may be cut off from the leader); retry", idx, hold))
	}
	return status.Errorf(codes.Unavailable, "waymaker: catch up to read index %d: %v", idx, err)
}

// longHold marks a context whose deadline, not the hold time, bounds the
// wait for a leader.
type longHold struct{}

// errLeaderMoved: the node asked for a read index no longer leads.
var errLeaderMoved = errors.New("leader moved")

// readIndex asks the leader (this node or another) for a read index.
func (rt *router) readIndex(ctx context.Context) (uint64, error) {
	conn, err := rt.leader(ctx)
	if err != nil {
		return 0, err
	}
	if conn == nil {
		idx, err := rt.s.node.ReadIndex(ctx)
		var nl *raftnode.NotLeaderError
		switch {
		case errors.As(err, &nl):
			return 0, errLeaderMoved
		case err != nil:
			return 0, status.Errorf(codes.Unavailable, "waymaker: confirm leadership for a read: %v", err)
		}
		return idx, nil
	}
	resp, err := clusterpb.NewClusterServiceClient(conn).ReadIndex(forwardContext(ctx), &clusterpb.ClusterServiceReadIndexRequest{})
	switch {
	case err != nil && status.Code(err) == codes.Unavailable:
		return 0, errLeaderMoved // the leader may have died: find the next one
	case err != nil:
		return 0, status.Errorf(codes.Unavailable, "waymaker: read index from the leader: %v", err)
	case resp.GetResult().GetResultCode() == result.CodeNotLeader:
		return 0, errLeaderMoved
	case !resp.GetResult().GetSuccess():
		return 0, status.Errorf(codes.Unavailable, "waymaker: read index from the leader: %s", resp.GetResult().GetMessage())
	}
	return resp.ReadIndex, nil
}

func (rt *router) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	switch rt.routes[info.FullMethod] {
	case routeLocal:
		return next(ctx, req)
	case routeRead:
		return next(ctx, req)
	}
	if forwarded(ctx) {
		rt.awaitEstablished(ctx)
		if out, ok := rt.notLeaderReply(info.FullMethod); ok {
			return out, nil
		}
		return next(ctx, req)
	}
	conn, id, err := rt.leaderID(ctx)
	if err != nil || conn == nil {
		if err != nil {
			return nil, err
		}
		rt.awaitEstablished(ctx)
		return next(ctx, req)
	}
	out, err := newMessage(info.FullMethod, false)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "waymaker: forward %s: %v", info.FullMethod, err)
	}
	if leadershipMoves[info.FullMethod] {
		// The leader answers these after its role has moved on purpose.
		if err := conn.Invoke(forwardContext(ctx), info.FullMethod, req, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	fctx, done := rt.forwardTo(ctx, id)
	err = conn.Invoke(fctx, info.FullMethod, req, out)
	if moved := done(); err != nil {
		if moved && ctx.Err() == nil {
			return nil, errMoved(id)
		}
		return nil, forwardTLSError(id, err)
	}
	return out, nil
}

// notLeaderReply answers a forwarded call that reached a node which does
// not lead: not_leader, naming the leader it knows at its client address,
// which the client follows. Its handler must not run: some read local
// state before they propose (a bucket's existence, a queue's messages),
// and a node that lost leadership may not have applied what the new
// leader committed, so it would answer not_found for a bucket that exists.
// ok is false on the leader, or for a method whose response has no result.
func (rt *router) notLeaderReply(fullMethod string) (proto.Message, bool) {
	if rt.s.node.IsLeader() {
		return nil, false
	}
	out, err := newMessage(fullMethod, false)
	if err != nil {
		return nil, false
	}
	m := out.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("result")
	if fd == nil || fd.Message() == nil || fd.Message().FullName() != "waymaker.v1.Result" {
		return nil, false
	}
	id, addr := rt.s.node.Leader()
	nl := &raftnode.NotLeaderError{LeaderID: id, LeaderAddr: addr}
	r := result.Fail(result.CodeNotLeader, nl.Error())
	r.LeaderHint = addr
	m.Set(fd, protoreflect.ValueOfMessage(r.ProtoReflect()))
	return out, true
}

// errStreamNotLeader refuses a forwarded stream on a node that does not
// lead (it lost its role while the call travelled), as notLeaderReply does
// a unary call: its handler never runs against state that is behind. A
// stream's messages carry no Result, so the refusal is Unavailable (its
// outcome is known: nothing ran) naming the leader's client address; the
// forwarding node passes it on and the SDK rebinds the stream.
func (rt *router) errStreamNotLeader() error {
	if rt.s.node.IsLeader() {
		return nil
	}
	return rt.unavailable(result.CodeNotLeader, fmt.Sprintf("waymaker: not_leader: this node no longer leads (%s); the forwarded stream did not start", rt.leaderHint("the leader is %s at %q")))
}

func (rt *router) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	ctx := ss.Context()
	switch rt.routes[info.FullMethod] {
	case routeLocal:
		return next(srv, ss)
	case routeRead:
		return next(srv, ss)
	}
	if forwarded(ctx) {
		rt.awaitEstablished(ctx)
		if err := rt.errStreamNotLeader(); err != nil {
			return err
		}
		return next(srv, ss)
	}
	conn, id, err := rt.leaderID(ctx)
	if err != nil {
		return err
	}
	if conn == nil {
		rt.awaitEstablished(ctx)
		return next(srv, ss)
	}
	fctx, done := rt.forwardTo(ctx, id)
	err = proxyStream(fctx, ss, conn, info)
	if moved := done(); err != nil && moved && ctx.Err() == nil {
		return errMoved(id)
	}
	return forwardTLSError(id, err)
}

// proxyStream relays a stream to the leader and back, message by message.
func proxyStream(fctx context.Context, ss grpc.ServerStream, conn *grpc.ClientConn, info *grpc.StreamServerInfo) error {
	ctx, cancel := context.WithCancel(fctx)
	defer cancel()
	desc := &grpc.StreamDesc{StreamName: info.FullMethod, ServerStreams: info.IsServerStream, ClientStreams: info.IsClientStream}
	cs, err := conn.NewStream(ctx, desc, info.FullMethod)
	if err != nil {
		return err
	}
	sent := make(chan error, 1)
	go func() {
		for {
			in, err := newMessage(info.FullMethod, true)
			if err == nil {
				err = ss.RecvMsg(in)
			}
			if errors.Is(err, io.EOF) {
				sent <- cs.CloseSend()
				return
			}
			if err == nil {
				err = cs.SendMsg(in)
			}
			if err != nil {
				sent <- err
				cancel()
				return
			}
		}
	}()
	for {
		out, err := newMessage(info.FullMethod, false)
		if err != nil {
			return status.Errorf(codes.Internal, "waymaker: forward %s: %v", info.FullMethod, err)
		}
		if err := cs.RecvMsg(out); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := ss.SendMsg(out); err != nil {
			return err
		}
	}
}

// announced reports whether the record, as far as this node has caught
// up on it, already holds what announce would write: this node's client
// address and the initial voters it was bootstrapped with. A restart on
// the same addresses then needs no write to start, so it does not fail
// when a busy cluster commits slowly.
func (s *Server) announced(clientAddr string) bool {
	if clientAddr != "" && s.clusterSM.ClientAddr(s.cfg.NodeID) != clientAddr {
		return false
	}
	return len(s.cfg.Bootstrap) == 0 || s.clusterSM.Bootstrap() == raftnode.BootstrapString(s.cfg.Bootstrap)
}

// announce tells the cluster this node's client address (and the initial
// voters it was bootstrapped with), retrying until it is recorded, the
// cluster refuses it, or ctx ends.
func (s *Server) announce(ctx context.Context, clientAddr string) error {
	req := &clusterpb.ClusterServiceAnnounceRequest{Id: s.cfg.NodeID, ClientAddress: clientAddr}
	if len(s.cfg.Bootstrap) > 0 {
		req.Bootstrap = raftnode.BootstrapString(s.cfg.Bootstrap)
	}
	for {
		var resp *clusterpb.ClusterServiceAnnounceResponse
		conn, err := s.router.leader(ctx)
		switch {
		case err != nil:
		case conn == nil:
			resp, err = s.cluster.Announce(ctx, req)
		default:
			resp, err = clusterpb.NewClusterServiceClient(conn).Announce(metadata.AppendToOutgoingContext(s.nodeOutgoing(ctx), forwardedKey, "1"), req)
		}
		if err == nil && resp.GetResult().GetSuccess() {
			return nil
		}
		if err == nil && resp.GetResult().GetResultCode() == result.CodeInvalidArgument {
			return errors.New(resp.GetResult().GetMessage())
		}
		if ctx.Err() != nil {
			return fmt.Errorf("announce this node's client address: %w (last: %v %s)", ctx.Err(), err, resp.GetResult().GetMessage())
		}
		s.log.Debug("announce failed; retrying", zap.Error(err), zap.String("message", resp.GetResult().GetMessage()))
		select {
		case <-s.node.Changed():
		case <-time.After(100 * time.Millisecond): // a bounded pause between attempts, not a synchronisation
		case <-ctx.Done():
		}
	}
}

// join asks the cluster at addr to add this node as a voter, retrying
// until it succeeds, is refused, or ctx ends.
func (s *Server) join(ctx context.Context, addr string) error {
	c, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(s.tls.dialCredentials()))
	if err != nil {
		return fmt.Errorf("join %s: %w", addr, err)
	}
	defer c.Close()
	req := &clusterpb.ClusterServiceAddVoterRequest{Id: s.cfg.NodeID, RaftAddress: s.node.RaftAddr(), ClientAddress: s.cfg.Advertise}
	for {
		resp, err := clusterpb.NewClusterServiceClient(c).AddVoter(s.nodeOutgoing(ctx), req)
		if err == nil && resp.GetResult().GetSuccess() {
			s.log.Info("joined the cluster", zap.String("through", addr))
			return nil
		}
		if err == nil && (resp.GetResult().GetResultCode() == result.CodeInvalidArgument || resp.GetResult().GetResultCode() == result.CodeNotFound) {
			return fmt.Errorf("join %s: %s", addr, resp.GetResult().GetMessage())
		}
		if ctx.Err() != nil {
			return fmt.Errorf("join %s: %w (last: %v %s)", addr, ctx.Err(), err, resp.GetResult().GetMessage())
		}
		s.log.Debug("join failed; retrying", zap.Error(err), zap.String("message", resp.GetResult().GetMessage()))
		select {
		case <-time.After(200 * time.Millisecond): // a bounded pause between attempts
		case <-ctx.Done():
		}
	}
}

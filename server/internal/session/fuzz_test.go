package session

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
)

// The server's side of the envelope codec: whatever frames a client
// sends on a Call or Subscribe stream, the service never panics or hangs,
// ends the stream with a clear InvalidArgument when a frame breaks the
// protocol, answers each call (and ends each subscription) with a
// response or a status that has a message, sends no event past its
// credit, and leaves no goroutine behind. The streams are in memory, so a
// run costs microseconds. Under go test these run their seeds; to search
// for more, one target at a time:
//
//	cd server && go test -run '^$' -fuzz '^FuzzCallFrames$' -fuzztime 60s ./internal/session/
//	cd server && go test -run '^$' -fuzz '^FuzzSubscribeFrames$' -fuzztime 60s ./internal/session/

// fuzzKV is the test service behind the registrar: Get answers at once;
// Watch sends len(pattern)%8 events, as its credit allows, then returns,
// or, with include_history or when out of credit, waits for its end.
type fuzzKV struct {
	kvpb.UnimplementedKVServiceServer
}

func (fuzzKV) Get(_ context.Context, req *kvpb.KVServiceGetRequest) (*kvpb.KVServiceGetResponse, error) {
	return &kvpb.KVServiceGetResponse{Result: &commonpb.Result{Success: true}, Entry: &kvpb.KVEntry{Key: req.GetKey()}}, nil
}

type trackerKey struct{}

func (fuzzKV) Watch(req *kvpb.KVServiceWatchRequest, st grpc.ServerStreamingServer[kvpb.KVServiceWatchResponse]) error {
	u := st.(*grpc.GenericServerStream[kvpb.KVServiceWatchRequest, kvpb.KVServiceWatchResponse]).ServerStream.(*subscription)
	hold := req.GetIncludeHistory()
	for i := range len(req.GetPattern()) % 8 {
		u.mu.Lock()
		credit := u.credit
		u.mu.Unlock()
		if credit == 0 {
			hold = true // Send would wait for a credit frame
			break
		}
		if err := st.Send(&kvpb.KVServiceWatchResponse{Result: &commonpb.Result{Success: true}, Revision: uint64(i + 1)}); err != nil {
			return err
		}
	}
	if !hold {
		return nil
	}
	tr := st.Context().Value(trackerKey{}).(*subTracker)
	tr.park(u.id, 1)
	<-st.Context().Done()
	tr.park(u.id, -1)
	return status.FromContextError(st.Context().Err()).Err()
}

// fuzzStream is a server stream in memory: Recv answers frames, then
// (after drained, when set) io.EOF, as a client that closed its side.
type fuzzStream[Req, Resp any] struct {
	ctx     context.Context
	frames  []*Req
	drained func()
	onSend  func(*Resp)

	mu   sync.Mutex
	sent []*Resp
}

func (s *fuzzStream[Req, Resp]) Recv() (*Req, error) {
	if len(s.frames) == 0 {
		if s.drained != nil {
			s.drained()
			s.drained = nil
		}
		return nil, io.EOF
	}
	f := s.frames[0]
	s.frames = s.frames[1:]
	return f, nil
}

func (s *fuzzStream[Req, Resp]) Send(r *Resp) error {
	s.mu.Lock()
	s.sent = append(s.sent, r)
	s.mu.Unlock()
	if s.onSend != nil {
		s.onSend(r)
	}
	return nil
}

func (s *fuzzStream[Req, Resp]) Context() context.Context     { return s.ctx }
func (s *fuzzStream[Req, Resp]) SetHeader(metadata.MD) error  { return nil }
func (s *fuzzStream[Req, Resp]) SendHeader(metadata.MD) error { return nil }
func (s *fuzzStream[Req, Resp]) SetTrailer(metadata.MD)       {}
func (s *fuzzStream[Req, Resp]) SendMsg(any) error            { return nil }
func (s *fuzzStream[Req, Resp]) RecvMsg(any) error            { return nil }

// roundTrip passes a frame through its codec, as it travels; false for a
// frame a client cannot send (invalid UTF-8 in a string).
func roundTrip[M proto.Message](m M, into M) bool {
	b, err := proto.Marshal(m)
	if err != nil {
		return false
	}
	return proto.Unmarshal(b, into) == nil
}

// serve runs fn (the service's handler on one stream) and fails the test
// unless it returns within 5 s; then it cancels the stream and waits for
// the goroutines the run started to end.
func serveFuzz(t *testing.T, base int, cancel context.CancelFunc, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream's handler did not return within 5s")
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left after the stream ended (%d before):\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
	return err
}

// checkProtocolError: err is nil, or the stream was ended for a frame
// that broke the protocol, saying so; mustFail when a frame did.
func checkProtocolError(t *testing.T, err error, mustFail bool) {
	t.Helper()
	if err == nil {
		if mustFail {
			t.Fatal("a frame broke the protocol and the stream did not end")
		}
		return
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "waymaker: session: ") {
		t.Fatalf("the stream ended with %v, want nil or an InvalidArgument naming the rule", err)
	}
}

func checkStatus(t *testing.T, what string, s *sessionpb.SessionStatus) {
	t.Helper()
	if s.GetCode() == 0 || s.GetMessage() == "" {
		t.Fatalf("%s: status %v, want a code and a message", what, s)
	}
}

var fuzzReg = sync.OnceValue(func() *Registrar {
	reg := NewRegistrar(grpc.NewServer())
	kvpb.RegisterKVServiceServer(reg, fuzzKV{})
	return reg
})

// FuzzCallFrames feeds a Call stream frames made from ops, two bytes per
// frame: the first's low two bits are the call_id (0 breaks the protocol),
// then cancel, then whether the method, payload, metadata and timeout_ms
// are the fuzzed ones (else a valid Get's); bit 7 of the first frame
// makes the server stop (goaway) as the stream starts.
func FuzzCallFrames(f *testing.F) {
	get, _ := proto.Marshal(&kvpb.KVServiceGetRequest{Bucket: "b", Key: "k"})
	f.Add([]byte{1, 2, 3}, getMethod, get, "waymaker-read", []byte("stale"), int64(10))
	f.Add([]byte{1, 1 | 4, 2 | 8, 3 | 16}, "/waymaker.v1.KVService/Nope", []byte{0x0a, 0xff}, "", []byte(nil), int64(0))
	f.Add([]byte{1, 2, 3, 1, 2, 3, 0}, getMethod, get, "", []byte(nil), int64(0))
	f.Add([]byte{3 | 32 | 64, 2 | 64, 1 | 128}, getMethod, get, "grpc-timeout", []byte("1S"), int64(-1))
	f.Add([]byte{1 | 32, 2 | 32}, getMethod, get, "Upper", []byte{0xff}, int64(1<<62))
	f.Add([]byte{1 | 8 | 16, 2 | 8}, "", []byte{}, "a-bin", []byte{0, 1}, int64(1))
	f.Fuzz(func(t *testing.T, ops []byte, method string, payload []byte, key string, value []byte, timeout int64) {
		if len(ops) > 24 {
			ops = ops[:24]
		}
		var frames []*sessionpb.SessionServiceCallRequest
		calls := map[uint64]int{} // call frames per id
		zero := false
		for _, b := range ops {
			fr := &sessionpb.SessionServiceCallRequest{CallId: uint64(b & 3), Method: getMethod, Payload: get, Cancel: b&4 != 0}
			if b&8 != 0 {
				fr.Method = method
			}
			if b&16 != 0 {
				fr.Payload = payload
			}
			if b&32 != 0 {
				fr.Metadata = []*sessionpb.SessionMetadata{{Key: key, Values: [][]byte{value}}}
			}
			if b&64 != 0 {
				fr.TimeoutMs = timeout
			}
			wire := new(sessionpb.SessionServiceCallRequest)
			if !roundTrip(fr, wire) {
				return
			}
			frames = append(frames, wire)
			zero = zero || fr.CallId == 0
			if !fr.Cancel {
				calls[fr.CallId]++
			}
		}
		stopping := make(chan struct{})
		stop := len(ops) > 0 && ops[0]&128 != 0
		if stop {
			close(stopping)
		}
		s := New(fuzzReg(), Config{Window: 2, MaxMessage: 1 << 10, Stopping: stopping})
		s.ic.Store(&chain{})
		base := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.Background())
		st := &fuzzStream[sessionpb.SessionServiceCallRequest, sessionpb.SessionServiceCallResponse]{ctx: ctx, frames: frames}
		err := serveFuzz(t, base, cancel, func() error { return s.Call(st) })
		checkProtocolError(t, err, zero)

		answers := map[uint64]int{}
		for _, r := range st.sent {
			id := r.GetCallId()
			if id == 0 {
				if !stop || codes.Code(r.GetStatus().GetCode()) != codes.Unavailable {
					t.Fatalf("an answer with call_id 0 that is no goaway: %v", r)
				}
				continue
			}
			if calls[id] == 0 {
				t.Fatalf("an answer to call %d, which was never sent: %v", id, r)
			}
			answers[id]++
			if r.GetStatus() != nil {
				checkStatus(t, fmt.Sprint("call ", id), r.GetStatus())
				continue
			}
			if err := proto.Unmarshal(r.GetPayload(), new(kvpb.KVServiceGetResponse)); err != nil {
				t.Fatalf("call %d: a payload that is no Get response: %v", id, err)
			}
		}
		if err == nil {
			for id, n := range calls {
				if answers[id] != n {
					t.Fatalf("call_id %d: %d calls sent, %d answered", id, n, answers[id])
				}
			}
		}
	})
}

// subTracker follows a Subscribe stream's subscriptions, so the fake
// client closes its side only once each one has ended or its handler
// waits for its end (a credit or a cancel that will not come).
type subTracker struct {
	mu      sync.Mutex
	subs    map[uint64]int // subscribe frames per sub_id
	ends    map[uint64]int // end frames per sub_id
	parked  map[uint64]int // handlers waiting for their end
	changed chan struct{}  // closed and replaced on each change
}

func (tr *subTracker) park(id uint64, d int) {
	tr.mu.Lock()
	tr.parked[id] += d
	tr.notify()
	tr.mu.Unlock()
}

func (tr *subTracker) ended(id uint64) {
	tr.mu.Lock()
	tr.ends[id]++
	tr.notify()
	tr.mu.Unlock()
}

func (tr *subTracker) notify() {
	close(tr.changed)
	tr.changed = make(chan struct{})
}

// settle waits until every subscription has ended or waits; false after
// 5 s, when one does neither (it hangs).
func (tr *subTracker) settle() bool {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		tr.mu.Lock()
		settled := true
		for id, n := range tr.subs {
			if n-tr.ends[id] != tr.parked[id] {
				settled = false
			}
		}
		ch := tr.changed
		tr.mu.Unlock()
		if settled {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// FuzzSubscribeFrames feeds a Subscribe stream frames made from ops, two
// bytes per frame: the first's low two bits are the sub_id (0 breaks the
// protocol), the next two the frame (subscribe, credit, cancel, or none:
// that breaks it too), then whether the method and payload are the fuzzed
// ones (else a valid Watch's), and whether the Watch waits for its end;
// the second byte is the credit (its low three bits, or the most a
// uint32 holds when its low seven are all set), the Watch's events (bits
// 3-6) and, in its top bit, whether the fuzzed metadata goes along. With stop the server
// stops (goaway) as the stream starts.
func FuzzSubscribeFrames(f *testing.F) {
	// Sub 1 sends its 5 events and ends; sub 2 sends 2 of 3 on its credit,
	// gets 4 more, waits, and is cancelled; sub 3 holds the most credit.
	f.Add([]byte{1, 5<<3 | 7, 2 | 64, 3<<3 | 2, 2 | 4, 4, 2 | 8, 0, 3, 127}, watchMethod, []byte(nil), "x", []byte("1"), false)
	f.Add([]byte{1, 64, 2, 3, 1 | 4, 5, 1 | 8, 0, 2 | 64, 2}, watchMethod, []byte(nil), "", []byte(nil), false)
	f.Add([]byte{1, 0, 2, 1, 3, 3, 1 | 8, 0, 1, 2}, "/waymaker.v1.KVService/Get", []byte{0x0a, 0xff}, "deny", []byte("1"), true)
	f.Add([]byte{1 | 16, 255, 2 | 32, 128 | 4, 3 | 64, 7}, "/nope", []byte{0x12, 0x03, 'a', 'b', 'c', 0x18, 1}, "grpc-x", []byte{0}, false)
	f.Add([]byte{1 | 12, 1}, watchMethod, []byte(nil), "", []byte(nil), false)
	f.Add([]byte{1 | 64, 1, 2 | 64, 1, 3 | 64, 1, 1 | 4, 9, 1, 1, 0, 1}, watchMethod, []byte(nil), "", []byte(nil), true)
	f.Fuzz(func(t *testing.T, ops []byte, method string, payload []byte, key string, value []byte, stop bool) {
		if len(ops) > 48 {
			ops = ops[:48]
		}
		tr := &subTracker{subs: map[uint64]int{}, ends: map[uint64]int{}, parked: map[uint64]int{}, changed: make(chan struct{})}
		granted := map[uint64]int{} // the most credit each sub_id was given
		var frames []*sessionpb.SessionServiceSubscribeRequest
		broken := false
		for i := 0; i+1 < len(ops); i += 2 {
			b, c := ops[i], ops[i+1]
			credit := uint32(c & 7)
			if c&127 == 127 {
				credit = ^uint32(0)
			}
			fr := &sessionpb.SessionServiceSubscribeRequest{SubId: uint64(b & 3)}
			switch (b >> 2) & 3 {
			case 0:
				sub := &sessionpb.SessionSubscribe{Method: watchMethod, Credit: credit}
				sub.Payload, _ = proto.Marshal(&kvpb.KVServiceWatchRequest{Bucket: "b", Pattern: strings.Repeat("n", int(c>>3)), IncludeHistory: b&64 != 0})
				if b&16 != 0 {
					sub.Method = method
				}
				if b&32 != 0 {
					sub.Payload = payload
				}
				if c&128 != 0 {
					sub.Metadata = []*sessionpb.SessionMetadata{{Key: key, Values: [][]byte{value}}}
				}
				fr.Frame = &sessionpb.SessionServiceSubscribeRequest_Subscribe{Subscribe: sub}
				tr.subs[fr.SubId]++
				granted[fr.SubId] += int(min(credit, maxCredit))
			case 1:
				fr.Frame = &sessionpb.SessionServiceSubscribeRequest_Credit{Credit: credit}
				granted[fr.SubId] += int(min(credit, maxCredit))
			case 2:
				fr.Frame = &sessionpb.SessionServiceSubscribeRequest_Cancel{Cancel: c&1 == 0}
			default:
				broken = true // no frame
			}
			wire := new(sessionpb.SessionServiceSubscribeRequest)
			if !roundTrip(fr, wire) {
				return
			}
			frames = append(frames, wire)
			broken = broken || fr.SubId == 0
		}
		stopping := make(chan struct{})
		if stop {
			close(stopping)
		}
		s := New(fuzzReg(), Config{MaxSubscriptions: 3, MaxMessage: 1 << 10, Stopping: stopping})
		base := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), trackerKey{}, tr))
		hung := false
		st := &fuzzStream[sessionpb.SessionServiceSubscribeRequest, sessionpb.SessionServiceSubscribeResponse]{
			ctx:    ctx,
			frames: frames,
			onSend: func(r *sessionpb.SessionServiceSubscribeResponse) {
				if r.GetEnd() != nil && r.GetSubId() != 0 {
					tr.ended(r.GetSubId())
				}
			},
			drained: func() { hung = !tr.settle() },
		}
		err := serveFuzz(t, base, cancel, func() error { return s.Subscribe(st) })
		if hung {
			t.Fatal("a subscription neither ended nor waited for its end within 5s")
		}
		checkProtocolError(t, err, broken)

		events, ends := map[uint64]int{}, map[uint64]int{}
		for _, r := range st.sent {
			id := r.GetSubId()
			if id == 0 {
				if !stop || r.GetEnd() == nil || codes.Code(r.GetEnd().GetCode()) != codes.Unavailable {
					t.Fatalf("a frame with sub_id 0 that is no goaway: %v", r)
				}
				continue
			}
			if tr.subs[id] == 0 {
				t.Fatalf("a frame for sub %d, which was never subscribed: %v", id, r)
			}
			if e := r.GetEnd(); e != nil {
				if ends[id]++; ends[id] > tr.subs[id] {
					t.Fatalf("sub %d: %d end frames for %d subscriptions", id, ends[id], tr.subs[id])
				}
				if e.GetCode() != 0 {
					checkStatus(t, fmt.Sprint("sub ", id, " end"), e)
				}
				continue
			}
			if events[id]++; events[id] > granted[id] {
				t.Fatalf("sub %d: %d events on %d credit", id, events[id], granted[id])
			}
			if err := proto.Unmarshal(r.GetEvent(), new(kvpb.KVServiceWatchResponse)); err != nil {
				t.Fatalf("sub %d: an event that is no Watch response: %v", id, err)
			}
		}
	})
}

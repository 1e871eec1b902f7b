package transport

import (
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sessionpb"
)

// The client's side of the envelope codec, on whatever a server (or
// something in the way) sends. Under go test these run their seeds; to
// search for more, one target at a time:
//
//	go test -run '^$' -fuzz '^FuzzDecodeAnswer$' -fuzztime 60s ./transport/
//	go test -run '^$' -fuzz '^FuzzSubscriptionFrames$' -fuzztime 60s ./transport/

// fuzzMaxMsg is small, so inputs over it stay small (the fuzzer minimizes
// every input it finds interesting, and a large one takes it long).
const fuzzMaxMsg = 64

func marshalled(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkMapped fails unless err, as the SDK maps it, is an *Error with a
// code.
func checkMapped(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(MapError(context.Background(), err), &e) || e.Kind == "" || e.Code == "" {
		t.Fatalf("%v maps to %#v, want an *Error with a kind and code", err, MapError(context.Background(), err))
	}
}

// FuzzDecodeAnswer: whatever bytes arrive as a call's answer, decodeAnswer
// never panics and answers either the response the payload holds or a
// gRPC status that maps to an *Error.
func FuzzDecodeAnswer(f *testing.F) {
	get := marshalled(f, &kvpb.KVServiceGetResponse{Result: &commonpb.Result{Success: true}, Entry: &kvpb.KVEntry{Key: "k", Value: []byte("v"), Revision: 7}})
	hint, _ := anypb.New(&commonpb.Result{ResultCode: CodeUnavailable, LeaderHint: "10.0.0.9:8818"})
	f.Add(marshalled(f, &sessionpb.SessionServiceCallResponse{CallId: 1, Payload: get}))
	f.Add(marshalled(f, &sessionpb.SessionServiceCallResponse{CallId: 2, Status: &sessionpb.SessionStatus{Code: int32(codes.NotFound), Message: "no such bucket"}}))
	f.Add(marshalled(f, &sessionpb.SessionServiceCallResponse{CallId: 3, Status: &sessionpb.SessionStatus{Code: int32(codes.Unavailable), Message: "no leader", Details: []*anypb.Any{hint}}}))
	f.Add(marshalled(f, &sessionpb.SessionServiceCallResponse{CallId: 4, Status: &sessionpb.SessionStatus{Code: -1, Details: []*anypb.Any{{TypeUrl: "type.googleapis.com/nope", Value: []byte{0xff}}, {TypeUrl: hint.TypeUrl, Value: []byte{0x0a, 0xff}}}}}))
	f.Add(marshalled(f, &sessionpb.SessionServiceCallResponse{CallId: 5, Status: &sessionpb.SessionStatus{}, Payload: get}))
	f.Add(marshalled(f, &sessionpb.SessionServiceCallResponse{CallId: 6, Payload: []byte{0x0a, 0xff, 0xff}}))
	f.Add(marshalled(f, &sessionpb.SessionServiceCallResponse{CallId: 7, Payload: make([]byte, fuzzMaxMsg+1)}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r sessionpb.SessionServiceCallResponse
		if proto.Unmarshal(data, &r) != nil {
			return // the stream's RecvMsg fails on such a frame: no answer to decode
		}
		out := new(kvpb.KVServiceGetResponse)
		err := decodeAnswer(&r, out, fuzzMaxMsg)
		_ = couldNotServe(out, err)
		if err != nil {
			if _, ok := status.FromError(err); !ok {
				t.Fatalf("decodeAnswer error %v is not a gRPC status", err)
			}
			checkMapped(t, err)
			return
		}
		if r.GetStatus() != nil {
			// Code 0: no error, and nothing decoded (a server never
			// answers a call so; the empty reply fails as carrying no
			// result).
			if !proto.Equal(out, &kvpb.KVServiceGetResponse{}) {
				t.Fatalf("a status answer decoded a response: %v", out)
			}
			return
		}
		want := new(kvpb.KVServiceGetResponse)
		if err := proto.Unmarshal(r.GetPayload(), want); err != nil || !proto.Equal(out, want) {
			t.Fatalf("decoded %v from a payload that holds %v (%v)", out, want, err)
		}
	})
}

// fuzzClientStream is a Subscribe stream whose server sends frames, each
// decoded as gRPC decodes a message, then ends.
type fuzzClientStream struct {
	grpc.ClientStream // unused methods
	frames            [][]byte
	sent              int
}

func (s *fuzzClientStream) Context() context.Context     { return context.Background() }
func (s *fuzzClientStream) Header() (metadata.MD, error) { return nil, nil }
func (s *fuzzClientStream) Trailer() metadata.MD         { return nil }
func (s *fuzzClientStream) CloseSend() error             { return nil }
func (s *fuzzClientStream) SendMsg(any) error            { s.sent++; return nil }

func (s *fuzzClientStream) RecvMsg(m any) error {
	if len(s.frames) == 0 {
		return io.EOF
	}
	b := s.frames[0]
	s.frames = s.frames[1:]
	if err := proto.Unmarshal(b, m.(proto.Message)); err != nil {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	return nil
}

// FuzzSubscriptionFrames: whatever frames a Subscribe stream carries (a
// repeated one, so credit grants happen, and two more), three
// subscriptions on it never panic the reader; each RecvMsg answers a valid
// event or an error that maps to an *Error (or io.EOF, a clean end), and
// once the stream has ended every subscription has.
func FuzzSubscriptionFrames(f *testing.F) {
	ev := func(id uint64, rev uint64) []byte {
		return marshalled(f, &sessionpb.SessionServiceSubscribeResponse{SubId: id, Event: marshalled(f, &kvpb.KVServiceWatchResponse{Result: &commonpb.Result{Success: true}, Revision: rev})})
	}
	end := func(id uint64, code codes.Code, msg string) []byte {
		return marshalled(f, &sessionpb.SessionServiceSubscribeResponse{SubId: id, End: &sessionpb.SessionStatus{Code: int32(code), Message: msg}})
	}
	f.Add(ev(1, 1), uint8(40), ev(2, 1), end(1, codes.OK, ""))
	f.Add(ev(3, 9), uint8(1), end(2, codes.NotFound, "no such bucket"), end(0, codes.Unavailable, "stopping"))
	f.Add(end(0, codes.Unavailable, "stopping"), uint8(2), ev(1, 1), end(3, codes.Unavailable, "no leader"))
	f.Add(marshalled(f, &sessionpb.SessionServiceSubscribeResponse{SubId: 1, Event: []byte{0x0a, 0xff}}), uint8(3), ev(9, 1), []byte{0xff, 0xff})
	f.Add(marshalled(f, &sessionpb.SessionServiceSubscribeResponse{SubId: 2, Event: make([]byte, fuzzMaxMsg+1)}), uint8(0), []byte{}, marshalled(f, &sessionpb.SessionServiceSubscribeResponse{SubId: 1, End: &sessionpb.SessionStatus{Code: -5}}))
	f.Fuzz(func(t *testing.T, a []byte, repeat uint8, b, c []byte) {
		frames := make([][]byte, 0, int(repeat%100)+2)
		for range repeat % 100 {
			frames = append(frames, a)
		}
		frames = append(frames, b, c)
		conn := &Conn{opts: defaultOptions()}
		conn.opts.maxMsg = fuzzMaxMsg
		conn.ctx, conn.cancel = context.WithCancel(context.Background())
		defer conn.cancel()
		st := &subStream{m: &subMux{c: conn}, cs: &fuzzClientStream{frames: frames}, max: 4, subs: map[uint64]*subscription{}}
		subs := make([]*subscription, 3)
		for i := range subs {
			s := &subscription{ctx: context.Background(), st: st, method: "/waymaker.v1.KVService/Watch", maxMsg: fuzzMaxMsg,
				signal: make(chan struct{}, 1), stop: func() bool { return true }, sent: true}
			if !st.add(s) {
				t.Fatal("no room for a subscription")
			}
			subs[i] = s
		}
		st.read() // until the frames run out
		for i, s := range subs {
			ended := false
			for range len(frames) + 1 {
				msg := new(kvpb.KVServiceWatchResponse)
				err := s.RecvMsg(msg)
				if err == nil {
					if _, err := proto.Marshal(msg); err != nil {
						t.Fatalf("sub %d: an event that does not marshal again: %v", i+1, err)
					}
					continue
				}
				if !errors.Is(err, io.EOF) {
					if _, ok := status.FromError(err); !ok {
						t.Fatalf("sub %d: RecvMsg error %v is not a gRPC status", i+1, err)
					}
					checkMapped(t, err)
				}
				if !s.ended {
					continue // one bad event; the subscription goes on
				}
				ended = true
				break
			}
			if !ended {
				t.Fatalf("sub %d has not ended after its stream did", i+1)
			}
		}
	})
}

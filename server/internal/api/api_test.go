package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/raftnode"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFromError(t *testing.T) {
	cases := []struct {
		err  error
		code string
		hint string
	}{
		{nil, "", ""},
		{&raftnode.NotLeaderError{LeaderID: "n2", LeaderAddr: "10.0.0.2:8818"}, result.CodeNotLeader, "10.0.0.2:8818"},
		{fmt.Errorf("wrapped: %w", raftnode.ErrShuttingDown), result.CodeUnavailable, ""},
		{fmt.Errorf("%w: leadership lost", raftnode.ErrUnavailable), result.CodeUnavailable, ""},
		{raftnode.ErrNotStarted, result.CodeUnavailable, ""},
		{context.Canceled, result.CodeUnavailable, ""},
		{context.DeadlineExceeded, result.CodeUnavailable, ""},
		// The cluster's read barrier reports the request's end as a status.
		{status.FromContextError(context.DeadlineExceeded).Err(), result.CodeUnavailable, ""},
		{status.FromContextError(context.Canceled).Err(), result.CodeUnavailable, ""},
		{errors.New("boom"), result.CodeInternal, ""},
	}
	for _, c := range cases {
		r := FromError(c.err)
		if r.GetResultCode() != c.code || r.GetLeaderHint() != c.hint || r.GetSuccess() != (c.err == nil) {
			t.Errorf("FromError(%v) = %v", c.err, r)
		}
	}
}

type fakeProposer struct {
	res any
	err error
	got []byte
}

func (f *fakeProposer) Propose(_ context.Context, _ string, _ uint16, payload []byte) (any, error) {
	f.got = payload
	return f.res, f.err
}

func TestPropose(t *testing.T) {
	want := wrapperspb.String("done")
	p := &fakeProposer{res: want}
	got, r := Propose[*wrapperspb.StringValue](context.Background(), p, "kv", 1, wrapperspb.String("req"))
	if r != nil || got != want {
		t.Fatalf("Propose = %v, %v", got, r)
	}
	if len(p.got) == 0 {
		t.Fatal("payload not marshalled")
	}

	p = &fakeProposer{res: 42}
	if _, r := Propose[*wrapperspb.StringValue](context.Background(), p, "kv", 1, wrapperspb.String("x")); r.GetResultCode() != result.CodeInternal {
		t.Fatalf("wrong result type: %v", r)
	}
	p = &fakeProposer{err: &raftnode.NotLeaderError{LeaderAddr: "h:1"}}
	if _, r := Propose[*wrapperspb.StringValue](context.Background(), p, "kv", 1, wrapperspb.String("x")); r.GetResultCode() != result.CodeNotLeader || r.GetLeaderHint() != "h:1" {
		t.Fatalf("not leader: %v", r)
	}
}

func TestValidator(t *testing.T) {
	var v Validator
	v.NonEmpty("bucket", "b")
	v.MaxLen("key", 3, 3)
	v.Name("stream", "orders", 10)
	v.NonNegative("ttl_ms", 0)
	if r := v.Result(); r != nil {
		t.Fatalf("valid input refused: %v", r)
	}
	for name, check := range map[string]func(*Validator){
		"bucket": func(v *Validator) { v.NonEmpty("bucket", "") },
		"key":    func(v *Validator) { v.MaxLen("key", 4, 3) },
		"stream": func(v *Validator) { v.Name("stream", "a\x00b", 10) },
		"name":   func(v *Validator) { v.Name("name", "\xff", 10) },
		"ttl_ms": func(v *Validator) { v.NonNegative("ttl_ms", -1) },
	} {
		var v Validator
		check(&v)
		v.NonEmpty("later", "") // the first failure wins
		r := v.Result()
		if r.GetResultCode() != result.CodeInvalidArgument || !strings.HasPrefix(r.GetMessage(), name+": ") {
			t.Errorf("%s: %v", name, r)
		}
	}
}

func TestLimits(t *testing.T) {
	d := DefaultLimits()
	if d.MaxKeyLen != 1024 || d.MaxValueSize != 1<<20 || d.MaxNameLen != 256 {
		t.Fatalf("defaults = %+v", d)
	}
	l := Limits{MaxKeyLen: 10}.WithDefaults()
	if l.MaxKeyLen != 10 || l.MaxValueSize != 1<<20 {
		t.Fatalf("WithDefaults = %+v", l)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	err := Limits{MaxSubjectLen: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "MaxSubjectLen") {
		t.Fatalf("Validate = %v", err)
	}
}

package metrics

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type resp struct{ r *commonpb.Result }

func (r resp) GetResult() *commonpb.Result { return r.r }

func TestCode(t *testing.T) {
	for _, tc := range []struct {
		resp any
		err  error
		want string
	}{
		{resp{&commonpb.Result{Success: true}}, nil, "OK"},
		{resp{&commonpb.Result{ResultCode: "not_found"}}, nil, "not_found"},
		{resp{&commonpb.Result{ResultCode: "user chosen: key=abc"}}, nil, "other"},
		{nil, status.Error(codes.Unavailable, "x"), "Unavailable"},
		{nil, errors.New("plain"), "Unknown"},
		{nil, nil, "OK"},
	} {
		if got := Code(tc.resp, tc.err); got != tc.want {
			t.Errorf("Code(%v, %v) = %q, want %q", tc.resp, tc.err, got, tc.want)
		}
	}
}

func TestSplitMethod(t *testing.T) {
	if s, m := splitMethod("/waymaker.v1.KVService/Put"); s != "waymaker.v1.KVService" || m != "Put" {
		t.Errorf("splitMethod = %q %q", s, m)
	}
}

package collections

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// incrCase is a stored value, an increment and what Redis answers: ok with
// the new value, or a refusal (with the words of Redis's error) that leaves
// the field as it was.
type incrCase struct {
	stored string
	delta  int64
	want   string // the new value; "" when refused
	err    string // part of the refusal's message
}

func TestHIncrByRedisIntegers(t *testing.T) {
	const notInt = "hash value is not an integer"
	const overflow = "increment or decrement would overflow"
	cases := []incrCase{
		{"0", 1, "1", ""},
		{"5", 3, "8", ""},
		{"-5", 3, "-2", ""},
		{"-1", 1, "0", ""},
		{"10", -20, "-10", ""},
		{"9223372036854775807", 0, "9223372036854775807", ""},
		{"-9223372036854775808", 0, "-9223372036854775808", ""},
		{"9223372036854775806", 1, "9223372036854775807", ""},
		{"-9223372036854775807", -1, "-9223372036854775808", ""},
		// string2ll's refusals.
		{"+5", 1, "", notInt},
		{"007", 1, "", notInt},
		{"00", 1, "", notInt},
		{"-0", 1, "", notInt},
		{"-07", 1, "", notInt},
		{"-", 1, "", notInt},
		{"", 1, "", notInt},
		{" 5", 1, "", notInt},
		{"5 ", 1, "", notInt},
		{"5\n", 1, "", notInt},
		{"1.0", 1, "", notInt},
		{"1e3", 1, "", notInt},
		{"0x10", 1, "", notInt},
		{"--5", 1, "", notInt},
		{"5-", 1, "", notInt},
		{"1_000", 1, "", notInt},
		{"abc", 1, "", notInt},
		{"9223372036854775808", 0, "", notInt},
		{"-9223372036854775809", 0, "", notInt},
		{"99999999999999999999", 0, "", notInt},
		{"184467440737095516160", 0, "", notInt},
		// The sum must fit.
		{"9223372036854775807", 1, "", overflow},
		{"-9223372036854775808", -1, "", overflow},
		{"1", math.MaxInt64, "", overflow},
		{"-2", math.MinInt64 + 1, "", overflow},
	}
	for _, c := range cases {
		m := New()
		create(t, m, 0, hashCfg("h"))
		apply[*pb.CollectionsServiceHSetResponse](t, m, OpHSet, 1, &pb.CollectionsServiceHSetRequest{Store: "h", Key: "k", Fields: map[string][]byte{"f": []byte(c.stored)}})
		r := apply[*pb.CollectionsServiceHIncrByResponse](t, m, OpHIncrBy, 2, &pb.CollectionsServiceHIncrByRequest{Store: "h", Key: "k", Field: "f", Delta: c.delta})
		checkIncr(t, m, c, r.GetResult().GetSuccess(), r.GetResult().GetMessage(), r.GetResult().GetResultCode(), func() string {
			return formatInt(r.GetValue())
		})
	}
}

func TestHIncrByFloatRedisFloats(t *testing.T) {
	const notFloat = "hash value is not a float"
	const nanInf = "increment would produce NaN or Infinity"
	type fcase struct {
		stored string
		delta  float64
		want   string
		err    string
	}
	cases := []fcase{
		{"0", 1.5, "1.5", ""},
		{"10", 0.5, "10.5", ""},
		{"-3", 1, "-2", ""},
		// strtold reads a sign, leading zeros, exponents and hex.
		{"+5", 1, "6", ""},
		{"007", 1, "8", ""},
		{"-0", 1, "1", ""},
		{"00", 1, "1", ""},
		{".5", 0, "0.5", ""},
		{"5.", 0, "5", ""},
		{"-.5", 0, "-0.5", ""},
		{"1e3", 0, "1000", ""},
		{"1E+3", 1, "1001", ""},
		{"2.5e-1", 0, "0.25", ""},
		{"0x10", 0, "16", ""},
		{"0X1.8p1", 0, "3", ""},
		{"-0x.8", 0, "-0.5", ""},
		{"1e-400", 0, "0", ""}, // below float64's range: rounds to 0 (see parseRedisFloat)
		// Refusals.
		{"", 1, "", notFloat},
		{" 1", 1, "", notFloat},
		{"\t1", 1, "", notFloat},
		{"1 ", 1, "", notFloat},
		{"1\n", 1, "", notFloat},
		{"- 1", 1, "", notFloat},
		{"+-1", 1, "", notFloat},
		{"1e", 1, "", notFloat},
		{"1e+", 1, "", notFloat},
		{"1p3", 1, "", notFloat},
		{"0x", 1, "", notFloat},
		{"0x1e3p", 1, "", notFloat},
		{"0xg", 1, "", notFloat},
		{".", 1, "", notFloat},
		{"1.2.3", 1, "", notFloat},
		{"1_000", 1, "", notFloat},
		{"0x_1p0", 1, "", notFloat},
		{"abc", 1, "", notFloat},
		{"nan", 1, "", notFloat},
		{"NaN", 1, "", notFloat},
		{"-nan", 1, "", notFloat},
		{"nan(123)", 1, "", notFloat},
		{"infinit", 1, "", notFloat},
		{"1e400", 1, "", notFloat}, // past float64's range (see parseRedisFloat)
		{strings.Repeat("1", maxFloatLen), 1, "", notFloat},
		// strtold reads infinity; the sum is then refused.
		{"inf", 1, "", nanInf},
		{"-INF", 1, "", nanInf},
		{"Infinity", 1, "", nanInf},
		{"1.7976931348623157e308", 1.7976931348623157e308, "", nanInf},
		{"-1.7976931348623157e308", -1e308, "", nanInf},
	}
	for _, c := range cases {
		m := New()
		create(t, m, 0, hashCfg("h"))
		apply[*pb.CollectionsServiceHSetResponse](t, m, OpHSet, 1, &pb.CollectionsServiceHSetRequest{Store: "h", Key: "k", Fields: map[string][]byte{"f": []byte(c.stored)}})
		r := apply[*pb.CollectionsServiceHIncrByFloatResponse](t, m, OpHIncrByFloat, 2, &pb.CollectionsServiceHIncrByFloatRequest{Store: "h", Key: "k", Field: "f", Delta: c.delta})
		ic := incrCase{stored: c.stored, want: c.want, err: c.err}
		checkIncr(t, m, ic, r.GetResult().GetSuccess(), r.GetResult().GetMessage(), r.GetResult().GetResultCode(), func() string {
			return formatFloat(r.GetValue())
		})
	}
	// A number under 5 KiB with many digits is still a number.
	long := "1" + strings.Repeat("0", 300) // 1e300, 301 bytes
	if f, ok := parseRedisFloat([]byte(long)); !ok || f != 1e300 {
		t.Fatalf("%d-byte number = %v, %v", len(long), f, ok)
	}
}

// checkIncr asserts an increment's outcome and, after a refusal, that the
// field still holds what was stored; after a success, that it holds the
// answered value.
func checkIncr(t *testing.T, m *Machine, c incrCase, success bool, msg, code string, value func() string) {
	t.Helper()
	got := m.HGet(&pb.CollectionsServiceHGetRequest{Store: "h", Key: "k", Field: "f"}, 3)
	if c.err != "" {
		if success {
			t.Errorf("stored %q: accepted, answered %s; want refused (%s)", c.stored, value(), c.err)
			return
		}
		if code != result.CodeConflict || !strings.Contains(msg, c.err) {
			t.Errorf("stored %q: refused with %s %q, want conflict %q", c.stored, code, msg, c.err)
		}
		if !bytes.Equal(got.GetValue(), []byte(c.stored)) {
			t.Errorf("stored %q: refused but the field now holds %q", c.stored, got.GetValue())
		}
		return
	}
	if !success {
		t.Errorf("stored %q: refused (%s), want %s", c.stored, msg, c.want)
		return
	}
	if v := value(); v != c.want {
		t.Errorf("stored %q: answered %s, want %s", c.stored, v, c.want)
	}
	if string(got.GetValue()) != c.want {
		t.Errorf("stored %q: field holds %q, want %q", c.stored, got.GetValue(), c.want)
	}
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// A missing field counts as 0 for both.
func TestHIncrMissingField(t *testing.T) {
	m := New()
	create(t, m, 0, hashCfg("h"))
	r := apply[*pb.CollectionsServiceHIncrByResponse](t, m, OpHIncrBy, 1, &pb.CollectionsServiceHIncrByRequest{Store: "h", Key: "k", Field: "i", Delta: -4})
	if r.GetValue() != -4 {
		t.Fatalf("HINCRBY of a missing field = %v", r)
	}
	rf := apply[*pb.CollectionsServiceHIncrByFloatResponse](t, m, OpHIncrByFloat, 1, &pb.CollectionsServiceHIncrByFloatRequest{Store: "h", Key: "k", Field: "x", Delta: 0.25})
	if rf.GetValue() != 0.25 {
		t.Fatalf("HINCRBYFLOAT of a missing field = %v", rf)
	}
}

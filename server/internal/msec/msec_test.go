package msec

import (
	"math"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAddSaturates(t *testing.T) {
	for _, c := range []struct{ at, d, want int64 }{
		{1_000, 500, 1_500},
		{1_700_000_000_000, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64 - 1, 2, math.MaxInt64},
		{math.MaxInt64, 0, math.MaxInt64},
		{-5, math.MinInt64, math.MinInt64},
		{math.MinInt64 + 1, -2, math.MinInt64},
		{10, -3, 7},
	} {
		if got := Add(c.at, c.d); got != c.want {
			t.Errorf("Add(%d, %d) = %d, want %d", c.at, c.d, got, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		d  int64
		ok bool
	}{{0, true}, {MaxDuration, true}, {-1, false}, {MaxDuration + 1, false}, {math.MaxInt64, false}} {
		if got := Check(c.d) == ""; got != c.ok || Valid(c.d) != c.ok {
			t.Errorf("Check(%d) = %q, Valid = %v; want ok=%v", c.d, Check(c.d), Valid(c.d), c.ok)
		}
	}
	// The ceiling plus any instant before MaxInstant stays far from overflow.
	if MaxInstant+MaxDuration < MaxInstant {
		t.Fatal("MaxInstant + MaxDuration overflows")
	}
}

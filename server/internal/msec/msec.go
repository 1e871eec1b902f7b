// Package msec is the millisecond arithmetic every state machine shares: one
// hard ceiling for the durations and instants a command may carry, and
// deadline sums that saturate instead of wrapping.
//
// The API layer refuses a duration above its configurable
// Limits.MaxDurationMs (default 10 years), which may never exceed
// MaxDuration; apply refuses anything above MaxDuration, so a replayed log
// or a hand-made command cannot install a duration whose deadline wraps into
// the past. Add saturates besides, so no sum of an instant and a duration
// can wrap, whatever reached apply.
package msec

import "math"

// MaxDuration is the longest duration, in milliseconds, any command may
// carry: 2^43 ms, about 278 years. It is below time.Duration's range (about
// 292 years), so a wait of MaxDuration converts to a time.Duration without
// wrapping. An operator's Limits.MaxDurationMs may be lower, never higher.
const MaxDuration int64 = 1 << 43

// MaxInstant is the latest epoch instant, in milliseconds, any command may
// carry: 9999-12-31T23:59:59.999Z.
const MaxInstant int64 = 253_402_300_799_999

// Add returns at+d, saturated to [math.MinInt64, math.MaxInt64]: a deadline
// that would overflow is "never", not "long ago".
func Add(at, d int64) int64 {
	switch {
	case d > 0 && at > math.MaxInt64-d:
		return math.MaxInt64
	case d < 0 && at < math.MinInt64-d:
		return math.MinInt64
	}
	return at + d
}

// Valid reports whether d is a duration a command may carry: 0 to MaxDuration.
func Valid(d int64) bool { return d >= 0 && d <= MaxDuration }

// Check returns the rule d breaks as a duration, or "" when it is valid; the
// caller prefixes the field's name.
func Check(d int64) string {
	switch {
	case d < 0:
		return "must not be negative"
	case d > MaxDuration:
		return "must be at most 8796093022208 ms (2^43, about 278 years)"
	}
	return ""
}

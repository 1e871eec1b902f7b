package api

import (
	"fmt"
	"unicode/utf8"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Validator collects the first rule a request breaks. Checks after the
// first failure are no-ops, so a handler can list them all and test once:
//
//	var v api.Validator
//	v.NonEmpty("bucket", req.GetBucket())
//	v.MaxLen("value", len(req.GetValue()), limits.MaxValueSize)
//	if r := v.Result(); r != nil { ... }
type Validator struct {
	failed *commonpb.Result
}

// Result is the invalid_argument Result of the first failed check, or nil.
func (v *Validator) Result() *commonpb.Result { return v.failed }

// Check records result.Invalid(field, rule) when ok is false.
func (v *Validator) Check(ok bool, field, rule string) {
	if !ok && v.failed == nil {
		v.failed = result.Invalid(field, rule)
	}
}

// NonEmpty requires a non-empty string.
func (v *Validator) NonEmpty(field, s string) {
	v.Check(s != "", field, "must not be empty")
}

// MaxLen requires n <= max (a length in bytes, or a count).
func (v *Validator) MaxLen(field string, n, max int) {
	if n > max && v.failed == nil {
		v.failed = result.Invalid(field, fmt.Sprintf("is %d bytes, limit %d", n, max))
	}
}

// Name requires a non-empty, valid UTF-8 string of at most max bytes with
// no control characters: the shape of bucket, stream and store names.
func (v *Validator) Name(field, s string, max int) {
	v.NonEmpty(field, s)
	v.MaxLen(field, len(s), max)
	v.Check(utf8.ValidString(s), field, "must be valid UTF-8")
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			v.Check(false, field, "must not contain control characters")
			break
		}
	}
}

// NonNegative requires n >= 0 (durations, counts).
func (v *Validator) NonNegative(field string, n int64) {
	v.Check(n >= 0, field, "must not be negative")
}

// Duration requires 0 <= d <= max (milliseconds); max is the server's
// Limits.MaxDurationMs or a lower limit of the field's own.
func (v *Validator) Duration(field string, d int64, max int) {
	v.NonNegative(field, d)
	if d > int64(max) && v.failed == nil {
		v.failed = result.Invalid(field, fmt.Sprintf("is %d ms, limit %d ms", d, max))
	}
}

// Instant requires an epoch instant in milliseconds from 0 to
// msec.MaxInstant (9999-12-31).
func (v *Validator) Instant(field string, at int64) {
	v.NonNegative(field, at)
	v.Check(at <= msec.MaxInstant, field, "must be at most 253402300799999 (9999-12-31T23:59:59.999Z)")
}

// HeadersProblem returns the field (relative to the headers, e.g.
// "[2].values") and rule that headers break, or "", "": every key
// non-empty and at most maxKey bytes, keys and values together at most
// maxBytes.
func HeadersProblem(hs []*commonpb.Header, maxKey, maxBytes int) (field, rule string) {
	total := 0
	for i, h := range hs {
		switch n := len(h.GetKey()); {
		case n == 0:
			return fmt.Sprintf("[%d].key", i), "must not be empty"
		case n > maxKey:
			return fmt.Sprintf("[%d].key", i), fmt.Sprintf("is %d bytes, limit %d", n, maxKey)
		}
		total += len(h.GetKey())
		for _, val := range h.GetValues() {
			total += len(val)
		}
		if total > maxBytes {
			return fmt.Sprintf("[%d].values", i), fmt.Sprintf("the headers hold more than %d bytes (MaxHeaderBytes)", maxBytes)
		}
	}
	return "", ""
}

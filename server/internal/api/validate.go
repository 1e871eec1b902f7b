package api

import (
	"fmt"

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

// Add records r, the Result of a check that failed (nil: it passed), such
// as a state machine package's Check* function or result.CheckName.
func (v *Validator) Add(r *commonpb.Result) {
	if r != nil && v.failed == nil {
		v.failed = r
	}
}

// Name requires a resource name: the one rule of every subsystem
// (result.CheckName), at most max bytes.
func (v *Validator) Name(field, name string, max int) {
	if v.failed == nil {
		v.Add(result.CheckName(field, name, max))
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

// Page sizes of every listing (page_size, batch_size) unless a listing
// has its own.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// PageSize requires 0 <= n <= max and returns the size to use: n, or def
// for 0.
func (v *Validator) PageSize(field string, n int32, def, max int) int {
	v.Check(n >= 0 && int(n) <= max, field, fmt.Sprintf("must be 0..%d", max))
	if n <= 0 {
		return def
	}
	return int(n)
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

// CheckHeaders checks the headers of field: every key non-empty and at
// most maxKey bytes, keys and values together at most maxBytes. It answers
// the invalid_argument Result naming the header (e.g. field[2].values), or
// nil, allocating nothing for valid headers.
func CheckHeaders(field string, hs []*commonpb.Header, maxKey, maxBytes int) *commonpb.Result {
	total := 0
	for i, h := range hs {
		switch n := len(h.GetKey()); {
		case n == 0:
			return result.Invalid(fmt.Sprintf("%s[%d].key", field, i), "must not be empty")
		case n > maxKey:
			return result.Invalidf(fmt.Sprintf("%s[%d].key", field, i), "is %d bytes, limit %d", n, maxKey)
		}
		total += len(h.GetKey())
		for _, val := range h.GetValues() {
			total += len(val)
		}
		if total > maxBytes {
			return result.Invalidf(fmt.Sprintf("%s[%d].values", field, i), "the headers hold more than %d bytes (MaxHeaderBytes)", maxBytes)
		}
	}
	return nil
}

// within is a nested field's failed Result as its parent names it:
// within("messages[2]", Invalid("subject", rule)) reads
// "messages[2].subject: rule". Nil stays nil.
func within(parent string, r *commonpb.Result) *commonpb.Result {
	if r == nil {
		return nil
	}
	return result.Fail(r.GetResultCode(), parent+"."+r.GetMessage())
}

package collections

import (
	"time"
	"unicode/utf8"

	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Client-side checks: each returns a KindInvalid *transport.Error naming the
// argument, so a bad call fails before anything is sent. The server checks
// again (sizes against its configured limits included).

func checkName(field, name string) error {
	return transport.CheckName(field, name)
}

// checkKey checks a key, a hash field or an id: non-empty, valid UTF-8 (it
// travels as a protobuf string).
func checkKey(field, k string) error {
	if k == "" {
		return transport.Invalid(field, "must not be empty")
	}
	if !utf8.ValidString(k) {
		return transport.Invalid(field, "must be valid UTF-8")
	}
	return nil
}

func checkKeys(field string, ks []string) error {
	if len(ks) == 0 {
		return transport.Invalid(field, "at least one is required")
	}
	for _, k := range ks {
		if err := checkKey(field, k); err != nil {
			return err
		}
	}
	return nil
}

func checkMembers(field string, ms []string) error {
	if len(ms) == 0 {
		return transport.Invalid(field, "at least one is required")
	}
	for _, m := range ms {
		if m == "" {
			return transport.Invalid(field, "must not be empty")
		}
	}
	return nil
}

func checkDuration(field string, d time.Duration) error {
	if d < 0 {
		return transport.Invalid(field, "must not be negative, got %v", d)
	}
	return nil
}

func checkScan(opts ScanOptions) error {
	if opts.Count < 0 {
		return transport.Invalid("opts.Count", "must not be negative, got %d", opts.Count)
	}
	if !utf8.ValidString(opts.Match) {
		return transport.Invalid("opts.Match", "must be valid UTF-8")
	}
	return nil
}

// ms converts a duration to whole milliseconds, rounding a positive
// sub-millisecond remainder up so that a small positive duration never
// becomes 0 ("use the default").
func ms(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

func fromMs(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

func atMs(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

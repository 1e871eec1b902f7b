package collections

import (
	"math"
	"strconv"
)

// HINCRBY and HINCRBYFLOAT read a field's bytes as Redis does, so a value
// Redis refuses is refused here too and the field is left alone. The
// increments themselves travel as int64 and double in the request, so only
// the stored value is ever parsed.

// parseRedisInt reads b as Redis's string2ll does: an optional single '-',
// then digits with no leading zero ("0" itself aside), nothing else (no '+',
// no spaces, no "-0"), within int64.
func parseRedisInt(b []byte) (int64, bool) {
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	i, neg := 0, false
	if len(b) > 0 && b[0] == '-' {
		neg, i = true, 1
	}
	if i >= len(b) || b[i] < '1' || b[i] > '9' {
		return 0, false
	}
	var v uint64 // magnitude; -MinInt64 fits
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true // -(1<<63) wraps to MinInt64, as wanted
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// maxFloatLen is Redis's MAX_LONG_DOUBLE_CHARS: string2ld refuses a value
// of this many bytes or more.
const maxFloatLen = 5 * 1024

// parseRedisFloat reads b as Redis's string2ld (strtold in the C locale,
// then its own checks) does, answering ok=false where Redis answers "hash
// value is not a float":
//
//   - not empty, shorter than 5 KiB, no leading space, the whole string a
//     number: an optional '+' or '-', then decimal digits with an optional
//     '.' and e/E exponent, or 0x/0X hex digits with an optional '.' and p/P
//     binary exponent (strtold's grammar; leading zeros are fine);
//   - "inf" and "infinity" (any case, signed) are read, as strtold reads
//     them, as ±Inf: the caller then refuses the sum as Redis does ("would
//     produce NaN or Infinity");
//   - "nan" and "nan(...)" are refused.
//
// One documented difference: Redis holds the value in an x86 80-bit long
// double, this server in a float64 (the protocol's double), so a magnitude
// past float64's range (about 1.8e308) is refused here where Redis would
// read it; a magnitude below float64's smallest denormal reads as 0, as
// float64 parsing rounds it (Redis's long double keeps it down to about
// 1e-4951 and refuses smaller ones).
func parseRedisFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) >= maxFloatLen {
		return 0, false
	}
	i := 0
	if b[0] == '+' || b[0] == '-' {
		i = 1
	}
	rest := string(b[i:])
	if isInfWord(rest) {
		if b[0] == '-' {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	}
	hex := len(rest) > 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')
	j := 0
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	digit := isDigit
	if hex {
		j = 2
		digit = func(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
	}
	mantissa := 0
	for j < len(rest) && digit(rest[j]) {
		j, mantissa = j+1, mantissa+1
	}
	if j < len(rest) && rest[j] == '.' {
		j++
		for j < len(rest) && digit(rest[j]) {
			j, mantissa = j+1, mantissa+1
		}
	}
	if mantissa == 0 {
		return 0, false // also "nan", "0x", ".", "", junk
	}
	exp := false
	if j < len(rest) && (!hex && (rest[j] == 'e' || rest[j] == 'E') || hex && (rest[j] == 'p' || rest[j] == 'P')) {
		k := j + 1
		if k < len(rest) && (rest[k] == '+' || rest[k] == '-') {
			k++
		}
		d := k
		for k < len(rest) && isDigit(rest[k]) {
			k++
		}
		if k > d { // strtold takes the exponent only with digits
			j, exp = k, true
		}
	}
	if j != len(rest) {
		return 0, false
	}
	s := string(b)
	if hex && !exp {
		s += "p0" // Go's syntax needs the exponent that strtold's does not
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// isInfWord reports whether s is "inf" or "infinity", in any case.
func isInfWord(s string) bool {
	const word = "infinity"
	if len(s) != 3 && len(s) != len(word) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}

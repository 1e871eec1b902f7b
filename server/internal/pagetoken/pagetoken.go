// Package pagetoken makes the page tokens and scan cursors the server hands
// out opaque and checksummed.
//
// A token carries the position a listing resumes after (the last name or
// item of the previous page) with a version byte and a CRC-32C that also
// covers the listing's scope, base64url-encoded. It is checksummed, not
// signed: the position is only one a client could ask for by name anyway,
// so forging a token gains nothing, and what the checksum buys is that a
// typo, a truncated token, garbage, or a token of another listing (another
// RPC, another stream's consumers) is refused with invalid_argument instead
// of silently listing from somewhere else.
package pagetoken

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

const version = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrMalformed is what Decode returns for any token it did not make.
var ErrMalformed = errors.New("not a token this server answered for this listing; pass next_page_token (or cursor) of the previous page unchanged, or empty to start")

// Encode returns the token that resumes the listing scope after position,
// or "" for an empty position (no next page).
func Encode(scope, position string) string {
	if position == "" {
		return ""
	}
	b := make([]byte, 0, 1+len(position)+4)
	b = append(b, version)
	b = append(b, position...)
	b = binary.BigEndian.AppendUint32(b, sum(scope, b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the position token resumes scope after: "" for an empty
// token (the first page), ErrMalformed for anything Encode(scope, ...) did
// not return.
func Decode(scope, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 1+1+4 || b[0] != version {
		return "", ErrMalformed
	}
	body, check := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if sum(scope, body) != check {
		return "", ErrMalformed
	}
	return string(body[1:]), nil
}

// sum covers the scope too, so a token only fits the listing it came from.
func sum(scope string, body []byte) uint32 {
	c := crc32.Update(0, castagnoli, []byte(scope))
	c = crc32.Update(c, castagnoli, []byte{0})
	return crc32.Update(c, castagnoli, body)
}

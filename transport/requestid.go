package transport

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"sync/atomic"
)

var (
	requestIDPrefix = newRequestIDPrefix()
	requestIDSeq    atomic.Uint64
)

func newRequestIDPrefix() string {
	var b [9]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b[:]) + "-"
}

// NewRequestID returns a request id unique to this call: a random prefix
// drawn once per process (72 bits) and a counter. Make it once per call,
// outside the function given to Call, so every attempt carries the same id.
func NewRequestID() string {
	var buf [32]byte
	b := append(buf[:0], requestIDPrefix...)
	b = strconv.AppendUint(b, requestIDSeq.Add(1), 36)
	return string(b)
}

package transport

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"sync/atomic"
)

// Retries and request ids: the one rule every subsystem follows.
//
//   - A read is retried freely: after Unavailable, a lost connection, a
//     server restart or not_leader, until the call's context ends or the
//     Conn's Backoff.MaxElapsed runs out.
//   - A mutation carries a request id made once per call by NewRequestID
//     and sent unchanged on every attempt. The server remembers the answer
//     it gave to each id (for its request-id window, 2 minutes by default)
//     and answers a retry with that first answer, so a retried mutation is
//     never applied twice and never answers differently: a Put keeps its
//     revision, an HSET its "added" count, a Push its "not duplicate". So a
//     mutation with a request id is retried like a read, and the retry is
//     invisible to the caller.
//   - A call without a request id that could apply twice is sent with Once:
//     retried only after not_leader, which guarantees nothing was applied.
//
// Lock calls are the one exception in shape: their request_id names the
// lease owner across acquire, renew and release, and the lock state
// machine answers a repeated request_id with the same lease.

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

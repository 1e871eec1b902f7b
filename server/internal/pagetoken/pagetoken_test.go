package pagetoken

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestRoundTrip(t *testing.T) {
	for _, pos := range []string{"a", "bucket-9", "\x00\xff binary", strings.Repeat("x", 4096)} {
		tok := Encode("kv.ListBuckets", pos)
		got, err := Decode("kv.ListBuckets", tok)
		if err != nil || got != pos {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", pos, got, err)
		}
		if strings.Contains(tok, pos) && len(pos) > 1 {
			t.Fatalf("token %q shows its position in clear", tok)
		}
	}
	if Encode("s", "") != "" {
		t.Fatal("an empty position must encode as no token")
	}
	if got, err := Decode("s", ""); got != "" || err != nil {
		t.Fatalf("empty token = %q, %v", got, err)
	}
}

func TestRefusesWhatItDidNotMake(t *testing.T) {
	good := Encode("stream.ListStreams", "orders")
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	flipped := append([]byte(nil), raw...)
	flipped[2] ^= 1
	for name, tok := range map[string]string{
		"a plain name":       "orders",
		"not base64":         "!!",
		"truncated":          good[:len(good)-2],
		"one bit flipped":    base64.RawURLEncoding.EncodeToString(flipped),
		"padded base64":      good + "=",
		"too short":          base64.RawURLEncoding.EncodeToString([]byte{version, 1, 2, 3}),
		"another scope":      Encode("stream.ListConsumers:orders", "orders"),
		"unknown version":    base64.RawURLEncoding.EncodeToString(append([]byte{9}, raw[1:]...)),
		"long garbage":       strings.Repeat("A", 10000),
		"invalid UTF-8 text": "\xff\xfe",
	} {
		if got, err := Decode("stream.ListStreams", tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode(%q) = %q, %v; want ErrMalformed", name, tok, got, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("kv", Encode("kv", "b"))
	f.Add("kv", "garbage")
	f.Fuzz(func(t *testing.T, scope, token string) {
		pos, err := Decode(scope, token)
		if err == nil && token != "" && Encode(scope, pos) != token {
			t.Fatalf("Decode accepted %q, which Encode does not produce for %q", token, pos)
		}
	})
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

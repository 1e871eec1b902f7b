package stream

import (
	"testing"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
)

func TestBatchCodecRoundTrip(t *testing.T) {
	seq, id := uint64(7), "m"
	in := []*sp.StreamPublishMessage{
		{Subject: "a.b", Data: []byte("x"), MsgId: "1", ExpectedStream: "s"},
		{Subject: "c", ExpectedLastSeq: &seq, ExpectedLastSubjectSeq: &seq, ExpectedLastMsgId: &id,
			Headers: []*commonpb.Header{{Key: "k", Values: []string{"v1", "v2"}}}},
	}
	out, err := decodeBatch(EncodeBatch(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || string(out[0].subject) != "a.b" || string(out[0].data) != "x" || string(out[0].msgID) != "1" ||
		string(out[0].expStream) != "s" || out[0].flags != 0 {
		t.Fatalf("first = %+v", out[0])
	}
	if out[1].flags != flagLastSeq|flagLastSubjectSeq|flagLastMsgID|flagHeaders || out[1].lastSeq != 7 ||
		out[1].lastSubjectSeq != 7 || string(out[1].lastMsgID) != "m" || out[1].hdrs[0].GetValues()[1] != "v2" {
		t.Fatalf("second = %+v", out[1])
	}
	if _, err := decodeBatch(EncodeBatch(in)[:10]); err == nil {
		t.Fatal("truncated batch decoded")
	}
}

// FuzzDecodeBatch: no input makes the decoder (or applying it) panic.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(EncodeBatch([]*sp.StreamPublishMessage{{Subject: "f.x", Data: []byte("d")}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := New()
		m.ApplyOp(OpCreateStream, 1, mustMarshal(t, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "f"}}))
		_ = m.ApplyOp(OpPublishRaw, 2, b)
	})
}

package stream

import (
	"testing"

	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
)

// StreamBinding names the stream a publish to a subject lands in.
func TestStreamBinding(t *testing.T) {
	m := New()
	apply(t, m, OpCreateStream, 1, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "ev"}})
	apply(t, m, OpCreateStream, 1, &sp.StreamServiceCreateStreamRequest{Config: &sp.StreamConfig{Name: "au", Subjects: []string{"audit.*"}}})
	for subject, want := range map[string]string{"ev": "ev", "ev.a.b": "ev", "audit.x": "au", "audit.x.y": "", "other": ""} {
		if got := m.StreamBinding(subject); got != want {
			t.Errorf("StreamBinding(%q) = %q, want %q", subject, got, want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

type span struct {
	Name        string
	SpanKind    int
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string }
}

// The example's spans: the app's span, and under it, for every call, a
// client span with the server's span as its child.
func TestSpansOnBothSides(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out lockedBuffer
	if err := run(ctx, &out, ""); err != nil {
		t.Fatal(err)
	}
	text := out.b.String()
	dec := json.NewDecoder(strings.NewReader(text[strings.Index(text, "{"):]))
	var spans []span
	for {
		var s span
		if err := dec.Decode(&s); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("span output: %v\n%s", err, text)
		}
		spans = append(spans, s)
	}
	var app span
	byID := map[string]span{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID] = s
		if s.Name == "checkout" {
			app = s
		}
	}
	if app.Name == "" {
		t.Fatalf("no checkout span among %d", len(spans))
	}
	const client, server = 3, 2 // trace.SpanKind values
	for _, method := range []string{"waymaker.v1.KVService/Put", "waymaker.v1.KVService/Get"} {
		var found bool
		for _, s := range spans {
			if s.Name != method || s.SpanKind != server {
				continue
			}
			parent, ok := byID[s.Parent.SpanID]
			if !ok || parent.SpanKind != client || parent.Name != method {
				t.Errorf("%s server span's parent is %+v, want the client span", method, parent)
			}
			if parent.Parent.SpanID != app.SpanContext.SpanID || s.SpanContext.TraceID != app.SpanContext.TraceID {
				t.Errorf("%s spans are not under the checkout span", method)
			}
			found = true
		}
		if !found {
			t.Errorf("no server span for %s", method)
		}
	}
}

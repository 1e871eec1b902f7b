package raftnode

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestHCLogRoutesToZap(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	h := newHCLog(zap.New(core)).Named("snap").With("node", "n1")

	h.Debug("dropped below info")
	h.Info("entering leader state", "term", 3)
	h.Warn("odd", "dangling")
	h.Error("failed", "err", "boom")
	h.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}).Print("from std log")

	got := logs.All()
	if len(got) != 4 {
		t.Fatalf("got %d entries, want 4: %v", len(got), got)
	}
	e := got[0]
	if e.Message != "entering leader state" || e.LoggerName != "raft.snap" || e.ContextMap()["term"] != int64(3) || e.ContextMap()["node"] != "n1" {
		t.Fatalf("entry = %+v %v", e.Entry, e.ContextMap())
	}
	if got[1].Level != zapcore.WarnLevel || got[1].ContextMap()["EXTRA_VALUE_AT_END"] != "dangling" {
		t.Fatalf("odd args: %+v", got[1].ContextMap())
	}
	if got[2].Level != zapcore.ErrorLevel || got[3].Level != zapcore.WarnLevel || got[3].Message != "from std log" {
		t.Fatalf("levels: %v %v %q", got[2].Level, got[3].Level, got[3].Message)
	}
	if h.IsDebug() || !h.IsInfo() || h.GetLevel() != hclog.Info || h.Name() != "raft.snap" {
		t.Fatal("level queries do not follow zap")
	}
}

// raft logs its configuration as hclog.Fmt("%+v", servers); the line must
// carry the formatted servers, not a literal "%+v".
func TestHCLogFormatsHCLogWrappers(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	h := newHCLog(zap.New(core))
	type server struct{ ID, Address string }
	h.Info("initial configuration",
		"servers", hclog.Fmt("%+v", []server{{ID: "node1", Address: "node1"}}),
		"hex", hclog.Hex(255), "octal", hclog.Octal(8), "binary", hclog.Binary(5),
		"quoted", hclog.Quote("a b"), "empty", hclog.Format{})

	got := logs.All()
	if len(got) != 1 {
		t.Fatalf("got %d entries, want 1", len(got))
	}
	want := map[string]any{
		"servers": "[{ID:node1 Address:node1}]",
		"hex":     "0xff", "octal": "010", "binary": "0b101",
		"quoted": `"a b"`, "empty": "",
	}
	ctx := got[0].ContextMap()
	for k, w := range want {
		if ctx[k] != w {
			t.Errorf("%s = %#v, want %#v", k, ctx[k], w)
		}
	}
}

// The real raft start-up path: no field of any line raft logs while a node
// bootstraps and elects itself may hold an unformatted verb.
func TestRaftStartLogsNoLiteralVerb(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	startNode(t, Config{Logger: zap.New(core)})
	if logs.FilterMessage("initial configuration").Len() == 0 {
		t.Fatalf("raft logged no initial configuration; lines: %v", logs.All())
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s := fmt.Sprint(v); strings.Contains(s, "%+v") || strings.Contains(s, "%#v") {
				t.Errorf("%q: field %s = %s", e.Message, k, s)
			}
		}
	}
}

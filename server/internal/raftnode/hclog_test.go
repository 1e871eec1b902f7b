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
	h.Info("restored from snapshot", "term", 3)
	h.Warn("odd", "dangling")
	h.Error("failed", "err", "boom")
	h.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}).Print("from std log")

	got := logs.All()
	if len(got) != 4 {
		t.Fatalf("got %d entries, want 4: %v", len(got), got)
	}
	e := got[0]
	if e.Message != "restored from snapshot" || e.LoggerName != "raft.snap" || e.ContextMap()["term"] != int64(3) || e.ContextMap()["node"] != "n1" {
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
	core, logs := observer.New(zapcore.DebugLevel)
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

// Raft's chatter is debug: at info a start says nothing in raft's words but
// a snapshot restore, and a first election is no warning, while losing a
// known leader still is.
func TestHCLogLevelsRaftChatter(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := newHCLog(zap.New(core))
	h.Info("entering leader state", "leader", "Node at node1 [Leader]")
	h.Info("election won", "term", 2, "tally", 1)
	h.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "", "last-leader-id", "")
	h.Info("starting restore from snapshot", "id", "1-2-3")
	h.Info("restored from snapshot", "id", "1-2-3")
	h.Warn("heartbeat timeout reached, starting election", "last-leader-addr", "n2", "last-leader-id", "n2")
	h.Warn("failed to contact quorum of nodes, stepping down")

	want := []zapcore.Level{zapcore.DebugLevel, zapcore.DebugLevel, zapcore.DebugLevel,
		zapcore.InfoLevel, zapcore.InfoLevel, zapcore.WarnLevel, zapcore.WarnLevel}
	got := logs.All()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i, e := range got {
		if e.Level != want[i] {
			t.Errorf("%q %v: level %v, want %v", e.Message, e.ContextMap(), e.Level, want[i])
		}
	}
}

// A single node's whole start, bootstrap and election included, logs
// nothing of raft's at info or above.
func TestRaftStartIsQuietAtInfo(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	startNode(t, Config{Logger: zap.New(core)})
	for _, e := range logs.All() {
		if strings.HasPrefix(e.LoggerName, "raft") {
			t.Errorf("raft logged at %v: %q %v", e.Level, e.Message, e.ContextMap())
		}
	}
}

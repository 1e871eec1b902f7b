package raftnode

import (
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

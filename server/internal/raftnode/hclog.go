package raftnode

import (
	"fmt"
	"io"
	"log"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapHCLog adapts zap to the hclog.Logger that hashicorp/raft logs through,
// so raft's output lands in the server's one structured log (and vanishes
// with it when the logger is a Nop).
type zapHCLog struct {
	z       *zap.Logger
	name    string
	implied []any
	// seenLeader, when set, is whether the node has known a leader yet:
	// until it has, a restarted election is part of the first one.
	seenLeader *atomic.Bool
}

func newHCLog(z *zap.Logger) hclog.Logger {
	return &zapHCLog{z: z.Named("raft"), name: "raft"}
}

// newRaftHCLog is raft's own logger, told by seenLeader whether the node
// has known a leader yet.
func newRaftHCLog(z *zap.Logger, seenLeader *atomic.Bool) hclog.Logger {
	return &zapHCLog{z: z.Named("raft"), name: "raft", seenLeader: seenLeader}
}

func toZapLevel(l hclog.Level) zapcore.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return zapcore.DebugLevel
	case hclog.Warn:
		return zapcore.WarnLevel
	case hclog.Error:
		return zapcore.ErrorLevel
	default:
		return zapcore.InfoLevel
	}
}

// fields turns hclog's alternating key/value args into zap fields.
func fields(args []any) []zap.Field {
	fs := make([]zap.Field, 0, (len(args)+1)/2)
	for i := 0; i < len(args); i += 2 {
		key := fmt.Sprint(args[i])
		if i+1 == len(args) {
			fs = append(fs, zap.Any("EXTRA_VALUE_AT_END", args[i]))
			break
		}
		fs = append(fs, zap.Any(key, value(args[i+1])))
	}
	return fs
}

// value renders hclog's formatting wrappers as hclog itself would. Without
// it zap prints them as what they are: hclog.Fmt("%+v", servers) (raft's
// "initial configuration" line) came out as the array ["%+v", [...]].
func value(v any) any {
	switch v := v.(type) {
	case hclog.Format:
		if len(v) == 0 {
			return ""
		}
		if f, ok := v[0].(string); ok {
			return fmt.Sprintf(f, v[1:]...)
		}
		return fmt.Sprint(v...)
	case hclog.Hex:
		return "0x" + strconv.FormatUint(uint64(v), 16)
	case hclog.Octal:
		return "0" + strconv.FormatUint(uint64(v), 8)
	case hclog.Binary:
		return "0b" + strconv.FormatUint(uint64(v), 2)
	case hclog.Quote:
		return strconv.Quote(string(v))
	case hclog.CapturedStacktrace:
		return string(v)
	}
	return v
}

// operatorInfo are the raft lines kept at info: restoring a snapshot at
// start takes what the data needs, and these say that it runs and how far
// it is. Every other line of raft's info level is its own chatter (state
// changes, elections, snapshots taken and reaped) and goes to debug: the
// server logs itself, at info, where it listens, what it restored and that
// it leads.
var operatorInfo = map[string]bool{
	"starting restore from snapshot":     true,
	"snapshot restore progress":          true,
	"snapshot network transfer progress": true,
	"restored from snapshot":             true,
}

// level is the zap level of one raft line.
func level(l hclog.Level, msg string, args []any, seenLeader *atomic.Bool) zapcore.Level {
	switch {
	case l == hclog.Warn && msg == "Election timeout reached, restarting election" && seenLeader != nil && !seenLeader.Load():
		// The first election of a node, taking one more round (a busy
		// machine, a peer that started later): routine too.
		return zapcore.DebugLevel
	case l == hclog.Info && !operatorInfo[msg]:
		return zapcore.DebugLevel
	case l == hclog.Warn && msg == "heartbeat timeout reached, starting election" && firstElection(args):
		// A node that has never seen a leader elects one at start: a
		// single node does so on every start. Only losing a known leader
		// is worth a warning.
		return zapcore.DebugLevel
	}
	return toZapLevel(l)
}

// firstElection reports whether an election line names no last leader.
func firstElection(args []any) bool {
	for i := 0; i+1 < len(args); i += 2 {
		if fmt.Sprint(args[i]) == "last-leader-id" {
			return fmt.Sprint(args[i+1]) == ""
		}
	}
	return false
}

func (h *zapHCLog) Log(l hclog.Level, msg string, args ...any) {
	if l == hclog.Off {
		return
	}
	if ce := h.z.Check(level(l, msg, args, h.seenLeader), msg); ce != nil {
		ce.Write(fields(args)...)
	}
}

func (h *zapHCLog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *zapHCLog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *zapHCLog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *zapHCLog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *zapHCLog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *zapHCLog) IsTrace() bool { return h.z.Core().Enabled(zapcore.DebugLevel) }
func (h *zapHCLog) IsDebug() bool { return h.z.Core().Enabled(zapcore.DebugLevel) }
func (h *zapHCLog) IsInfo() bool  { return h.z.Core().Enabled(zapcore.InfoLevel) }
func (h *zapHCLog) IsWarn() bool  { return h.z.Core().Enabled(zapcore.WarnLevel) }
func (h *zapHCLog) IsError() bool { return h.z.Core().Enabled(zapcore.ErrorLevel) }

func (h *zapHCLog) ImpliedArgs() []any { return h.implied }

func (h *zapHCLog) With(args ...any) hclog.Logger {
	return &zapHCLog{
		z:          h.z.With(fields(args)...),
		name:       h.name,
		implied:    append(append([]any(nil), h.implied...), args...),
		seenLeader: h.seenLeader,
	}
}

func (h *zapHCLog) Name() string { return h.name }

func (h *zapHCLog) Named(name string) hclog.Logger {
	c := *h
	c.z, c.name = h.z.Named(name), h.name+"."+name
	return &c
}

func (h *zapHCLog) ResetNamed(name string) hclog.Logger {
	c := *h
	c.z, c.name = h.z.Named(name), name
	return &c
}

// SetLevel is ignored: the zap logger's own level decides.
func (h *zapHCLog) SetLevel(hclog.Level) {}

func (h *zapHCLog) GetLevel() hclog.Level {
	switch {
	case h.IsDebug():
		return hclog.Debug
	case h.IsInfo():
		return hclog.Info
	case h.IsWarn():
		return hclog.Warn
	case h.IsError():
		return hclog.Error
	default:
		return hclog.Off
	}
}

func (h *zapHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *zapHCLog) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return stdWriter{h: h, level: level}
}

type stdWriter struct {
	h     *zapHCLog
	level hclog.Level
}

func (w stdWriter) Write(p []byte) (int, error) {
	w.h.Log(w.level, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

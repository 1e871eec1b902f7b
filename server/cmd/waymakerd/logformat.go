package main

import "go.uber.org/zap/zapcore"

// logEncoder is --log-format's encoder: JSON lines, or zap's console
// format (tab-separated, for a person at a terminal).
func logEncoder(format string, enc zapcore.EncoderConfig) zapcore.Encoder {
	if format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		return zapcore.NewConsoleEncoder(enc)
	}
	return zapcore.NewJSONEncoder(enc)
}

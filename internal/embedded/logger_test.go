package embedded

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLogAdapterLevels(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	fatal := make(chan string, 1)
	a := newLogAdapter(zap.New(core), fatal)

	a.Noticef("notice %d", 1)
	a.Warnf("warn %d", 2)
	a.Errorf("error %d", 3)
	a.Fatalf("fatal %d", 4)
	a.Fatalf("fatal %d", 5) // fatal is full: must not block
	a.Debugf("debug %d", 6)
	a.Tracef("trace %d", 7)

	want := []struct {
		level zapcore.Level
		msg   string
	}{
		{zapcore.InfoLevel, "notice 1"},
		{zapcore.WarnLevel, "warn 2"},
		{zapcore.ErrorLevel, "error 3"},
		{zapcore.ErrorLevel, "fatal 4"},
		{zapcore.ErrorLevel, "fatal 5"},
		{zapcore.DebugLevel, "debug 6"},
		{zapcore.DebugLevel, "trace 7"},
	}
	got := logs.All()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Level != w.level || got[i].Message != w.msg || got[i].LoggerName != "nats-server" {
			t.Errorf("entry %d = %s %q (logger %q), want %s %q", i, got[i].Level, got[i].Message, got[i].LoggerName, w.level, w.msg)
		}
	}
	if msg := <-fatal; msg != "fatal 4" {
		t.Errorf("fatal reported %q, want the first one", msg)
	}
}

func TestLogAdapterNilLogger(t *testing.T) {
	fatal := make(chan string, 1)
	a := newLogAdapter(nil, fatal)
	a.Noticef("dropped")
	a.Fatalf("still reported")
	if msg := <-fatal; msg != "still reported" {
		t.Errorf("fatal reported %q", msg)
	}
}

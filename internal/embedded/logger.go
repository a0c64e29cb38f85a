package embedded

import (
	"fmt"

	"go.uber.org/zap"
)

// logAdapter routes nats-server logs to zap. It also reports Fatalf
// messages on fatal: the server calls Fatalf (and otherwise carries on) when
// it cannot listen or start JetStream, and Start turns that into an error
// instead of waiting for a readiness timeout.
type logAdapter struct {
	log   *zap.SugaredLogger
	fatal chan<- string
}

func newLogAdapter(l *zap.Logger, fatal chan<- string) *logAdapter {
	if l == nil {
		l = zap.NewNop()
	}
	return &logAdapter{log: l.Named("nats-server").Sugar(), fatal: fatal}
}

func (a *logAdapter) Noticef(format string, v ...any) { a.log.Infof(format, v...) }
func (a *logAdapter) Warnf(format string, v ...any)   { a.log.Warnf(format, v...) }
func (a *logAdapter) Errorf(format string, v ...any)  { a.log.Errorf(format, v...) }
func (a *logAdapter) Debugf(format string, v ...any)  { a.log.Debugf(format, v...) }
func (a *logAdapter) Tracef(format string, v ...any)  { a.log.Debugf(format, v...) }

// Fatalf logs at error level, never exits: the embedding process decides.
func (a *logAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.log.Error(msg)
	if a.fatal == nil {
		return
	}
	// Only the first fatal matters to Start; later ones are just logged.
	select {
	case a.fatal <- msg:
	default:
	}
}

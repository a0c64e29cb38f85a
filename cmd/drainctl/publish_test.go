package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/slbdrain/slbdrain/internal/syncbuf"
	"github.com/slbdrain/slbdrain/messages"
)

// flakyPublisher answers each publish with the next of errs, then acks.
type flakyPublisher struct {
	errs   []error
	calls  int
	onCall func(n int) // if set, called before answering the n-th publish
}

func (p *flakyPublisher) PublishMsg(ctx context.Context, msg *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	p.calls++
	if p.onCall != nil {
		p.onCall(p.calls)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.calls <= len(p.errs) {
		return nil, p.errs[p.calls-1]
	}
	return &jetstream.PubAck{Stream: messages.RequestStream, Sequence: 7}, nil
}

func publishRequest() messages.DrainRequest {
	return messages.DrainRequest{Version: 1, RequestID: "pub-1", RegionID: testRegion, VServerGroupID: "rsp-pub",
		BackendServers: []messages.BackendServer{{ServerID: "i-pub", Port: 80}}}
}

func newTestApp() (*app, *syncbuf.Buffer) {
	var stderr syncbuf.Buffer
	return &app{stdout: &syncbuf.Buffer{}, stderr: &stderr}, &stderr
}

func exitCode(err error) int {
	if ee, ok := errors.AsType[*exitError](err); ok {
		return ee.code
	}
	return -1
}

func TestPublishAgainAfterLostAcks(t *testing.T) {
	a, stderr := newTestApp()
	p := &flakyPublisher{errs: []error{nats.ErrTimeout, &jetstream.APIError{Code: http.StatusServiceUnavailable, Description: "no leader"}}}
	ack, err := a.publish(context.Background(), p, publishRequest())
	if err != nil || ack == nil || ack.Sequence != 7 {
		t.Fatalf("ack %+v, error %v; want the third try's ack", ack, err)
	}
	if p.calls != 3 {
		t.Errorf("%d publishes, want 3", p.calls)
	}
	for _, want := range []string{"(attempt 1); publishing again", "(attempt 2); publishing again"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestPublishStops(t *testing.T) {
	invalid := publishRequest()
	invalid.RegionID = "Hangzhou"
	for _, tc := range []struct {
		name  string
		req   messages.DrainRequest
		errs  []error
		code  int
		calls int
	}{
		{"an invalid request is bad usage, never sent", invalid, nil, exitUsage, 0},
		{"an error that a retry cannot help", publishRequest(), []error{&jetstream.APIError{Code: http.StatusBadRequest, Description: "bad"}}, exitFailed, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newTestApp()
			p := &flakyPublisher{errs: tc.errs}
			_, err := a.publish(context.Background(), p, tc.req)
			if code := exitCode(err); code != tc.code || p.calls != tc.calls {
				t.Errorf("exit %d after %d publishes (%v), want exit %d after %d", code, p.calls, err, tc.code, tc.calls)
			}
		})
	}
}

func TestPublishEndsWithItsContext(t *testing.T) {
	t.Run("interrupted", func(t *testing.T) {
		a, _ := newTestApp()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := &flakyPublisher{errs: []error{nats.ErrTimeout, nats.ErrTimeout, nats.ErrTimeout}, onCall: func(n int) {
			if n == 2 {
				cancel()
			}
		}}
		_, err := a.publish(ctx, p, publishRequest())
		if code := exitCode(err); code != exitFailed || !strings.Contains(err.Error(), "after 2 attempts") {
			t.Errorf("exit %d (%v), want 1 after 2 attempts", code, err)
		}
	})
	t.Run("timed out", func(t *testing.T) {
		a, _ := newTestApp()
		ctx, cancel := context.WithDeadline(context.Background(), time.Now())
		defer cancel()
		_, err := a.publish(ctx, &flakyPublisher{}, publishRequest())
		if code := exitCode(err); code != exitTimeout || !strings.Contains(err.Error(), "after 1 attempts") {
			t.Errorf("exit %d (%v), want 3 after 1 attempt", code, err)
		}
	})
}

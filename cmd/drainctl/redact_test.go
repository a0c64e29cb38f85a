package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// natsconn.Redact's own tests cover the URL forms; this one, that drainctl
// goes through it when the broker cannot be reached.
func TestUnreachableBrokerErrorDoesNotShowThePassword(t *testing.T) {
	closed := strings.TrimPrefix(closedURL(t), "nats://")
	for _, url := range []string{
		"nats://alice:s3cret@" + closed,
		"alice:s3cret@" + closed, // no scheme, as nats.go accepts
		"nats://" + closed + ",tls://s3cret@" + closed,
	} {
		r := runCLI(t, "", "status", "--nats-url", url, "--timeout", "2s")
		if r.code != exitFailed || strings.Contains(r.stdout+r.stderr, "s3cret") || !strings.Contains(r.stderr, closed) {
			t.Errorf("--nats-url %s: want exit 1 naming the server without the password, got %v", url, r)
		}
	}
}

// A client certificate without its key is bad usage, found before dialing;
// the variable counts as the flag.
func TestCertificateWithoutKeyIsBadUsage(t *testing.T) {
	t.Setenv("DRAIN_TLS_CERT", "client.pem")
	r := runCLI(t, "", "status", "--nats-url", closedURL(t))
	if r.code != exitUsage || !strings.Contains(r.stderr, "--tls-key") {
		t.Errorf("want exit 2 naming --tls-key, got %v", r)
	}
}

func TestHelpDoesNotShowThePasswordFromTheEnvironment(t *testing.T) {
	var stdout, stderr bytes.Buffer
	t.Setenv("DRAIN_NATS_URL", "nats://alice:s3cret@127.0.0.1:4222")
	code := run(context.Background(), []string{"status", "--help"}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if out := stdout.String() + stderr.String(); strings.Contains(out, "s3cret") || !strings.Contains(out, "nats-url") {
		t.Errorf("help shows the password or no --nats-url:\n%s", out)
	}
}

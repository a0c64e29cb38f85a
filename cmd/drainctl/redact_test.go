package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRedactURLsHidesPasswordsAndTokens(t *testing.T) {
	for in, secret := range map[string]string{
		"nats://alice:s3cret@127.0.0.1:4222":              "s3cret",
		"alice:s3cret@127.0.0.1:4222":                     "s3cret", // no scheme, as nats.go accepts
		"nats://a:1@h1:4222, tls://tok3n@h2:4222":         "tok3n",
		"nats://127.0.0.1:4222,nats://bob:hunter2@h:4222": "hunter2",
	} {
		if got := redactURLs(in); strings.Contains(got, secret) {
			t.Errorf("redactURLs(%q) = %q, still shows %q", in, got, secret)
		}
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

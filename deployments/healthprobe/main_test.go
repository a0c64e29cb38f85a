package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: slb credentials failing\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	defer srv.Close()

	// A port nothing listens on: open one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		want     int
		inStderr string
	}{
		{"2xx is healthy", []string{srv.URL + "/healthz"}, 0, ""},
		{"5xx is unhealthy and says why", []string{srv.URL + "/readyz"}, 1, "slb credentials failing"},
		{"refused URL is unhealthy", []string{"http://" + closed + "/healthz"}, 1, "connect"},
		{"tcp listening is healthy", []string{"-tcp", strings.TrimPrefix(srv.URL, "http://")}, 0, ""},
		{"tcp refused is unhealthy", []string{"-tcp", closed}, 1, closed},
		{"no target is bad usage", nil, 2, "usage"},
		{"two targets is bad usage", []string{srv.URL, srv.URL}, 2, "usage"},
		{"unknown flag is bad usage", []string{"-nope", srv.URL}, 2, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			if got := run(context.Background(), tt.args, &stderr); got != tt.want {
				t.Fatalf("run(%q) = %d, want %d; stderr: %s", tt.args, got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.inStderr) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.inStderr)
			}
		})
	}
}

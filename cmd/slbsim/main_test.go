package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/slbdrain/slbdrain/internal/slbsim"
	"github.com/slbdrain/slbdrain/internal/syncbuf"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRunServesSeededGroupsAndStopsOnCancel(t *testing.T) {
	groups := filepath.Join(t.TempDir(), "groups.json")
	if err := os.WriteFile(groups, []byte(`[{"region_id":"cn-beijing","vserver_group_id":"rsp-file",
		"backend_servers":[{"server_id":"i-f1","port":80,"type":"ecs"}]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncbuf.Buffer
	urls := make(chan string, 1)
	done := make(chan error, 1)
	const secret = "env-secret-value"
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--groups", "2", "--servers", "3", "--region", "cn-shanghai",
			"--groups-file", groups, "--log-level", "debug"},
			env(map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "env-ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret}),
			&stderr, func(url string) { urls <- url })
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("run returned before serving: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}

	call := func(region, group, server string) error {
		cl, err := slbsim.NewClient(url, region, "env-ak", secret, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		req := slb.CreateRemoveVServerGroupBackendServersRequest()
		req.VServerGroupId = group
		req.BackendServers = `[{"ServerId":"` + server + `","Port":"80","Type":"ecs"}]`
		resp, err := cl.RemoveVServerGroupBackendServers(req)
		if err == nil && len(resp.BackendServers.BackendServer) != 2 && group == "rsp-sim0002" {
			t.Errorf("generated group left with %d servers, want 2", len(resp.BackendServers.BackendServer))
		}
		return err
	}
	if err := call("cn-shanghai", "rsp-sim0002", "i-sim0002-0003"); err != nil {
		t.Fatalf("call to a generated group: %v", err)
	}
	if err := call("cn-beijing", "rsp-file", "i-f1"); err != nil {
		t.Fatalf("call to a file group: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
	logs := stderr.String()
	if !strings.Contains(logs, `"action":"RemoveVServerGroupBackendServers"`) || !strings.Contains(logs, `"vserver_group_id":"rsp-file"`) {
		t.Errorf("calls not logged:\n%s", logs)
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the secret is in the logs:\n%s", logs)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:9100" || o.accessKeyID != defaultAccessKeyID || o.secret != defaultSecret || o.faults.SlowDelay != 30*time.Second {
		t.Errorf("defaults %+v", o)
	}

	o, err = parseFlags([]string{"--access-key-id", "flag-ak", "--throttle-rate", "0.1", "--latency", "20ms", "--log-level", "warn"},
		env(map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "env-ak", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.accessKeyID != "flag-ak" || o.secret != "env-secret" || o.faults.Throttling != 0.1 || o.latency != 20*time.Millisecond || o.logLevel.String() != "warn" {
		t.Errorf("parsed %+v", o)
	}

	for _, bad := range [][]string{
		{"--drop-rate", "1.5"},
		{"--throttle-rate", "0.6", "--busy-rate", "0.6"},
		{"--log-level", "loud"},
		{"--groups", "-1"},
		{"extra"},
	} {
		if _, err := parseFlags(bad, env(nil), &bytes.Buffer{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}

	var help bytes.Buffer
	_, err = parseFlags([]string{"-help"}, env(map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret"}), &help)
	if !errors.Is(err, flag.ErrHelp) || strings.Contains(help.String(), "env-secret") {
		t.Errorf("help: err %v, output reveals the secret: %v", err, strings.Contains(help.String(), "env-secret"))
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
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
	if o.listen != "127.0.0.1:9100" || o.accessKeyID != defaultAccessKeyID || o.secret != defaultSecret || o.faults.SlowDelay != 30*time.Second ||
		o.securityToken != "" || len(o.regions) != 1 || o.regions[0] != "cn-hangzhou" {
		t.Errorf("defaults %+v", o)
	}
	if !reflect.DeepEqual(o.quotas, slbsim.AlibabaQuotas()) || len(o.regionQuotas) != 0 {
		t.Errorf("default quotas %v, want Alibaba's published table", o.quotas)
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
		{"--quota", "RemoveVServerGroupBackendServers=90"},
		{"--quota", "RemoveBackendServers=90/60s"},
		{"--quota-table", "aws"},
		{"--foreign-share", "1.2"},
		{"--sticky", "cn-hangzhou/rsp-a/i-1=2"},
		{"--sticky", "cn-hangzhou/rsp-a/i-1:80=0"},
		{"--sticky", "rsp-a/i-1:80=2"},
		{"--region", "", "--groups", "2"},
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
	defer func() {
		if strings.Contains(help.String(), "env-token") {
			t.Error("help reveals the security token")
		}
	}()
	_, err = parseFlags([]string{"-help"}, env(map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret", "ALIBABA_CLOUD_SECURITY_TOKEN": "env-token"}), &help)
	if !errors.Is(err, flag.ErrHelp) || strings.Contains(help.String(), "env-secret") {
		t.Errorf("help: err %v, output reveals the secret: %v", err, strings.Contains(help.String(), "env-secret"))
	}
}

func TestParseQuotaFlags(t *testing.T) {
	o, err := parseFlags([]string{
		"--quota", "RemoveVServerGroupBackendServers=15/10s",
		"--quota", "cn-beijing:RemoveVServerGroupBackendServers=5/10s,foreign=0.5",
		"--quota", "DescribeLoadBalancers=unlimited",
		"--foreign-share", "0.3", "--foreign-jitter", "0.1", "--sliding",
		"--sticky", "cn-hangzhou/rsp-sim0001/i-sim0001-0001:80=2",
		"--sticky", "cn-beijing/rsp-b/eni-1:8080=forever",
		"--region", "cn-hangzhou, cn-beijing",
	}, env(map[string]string{"ALIBABA_CLOUD_SECURITY_TOKEN": "env-token"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := slbsim.Quota{Calls: 15, Window: 10 * time.Second, Sliding: true, ForeignShare: 0.3, ForeignJitter: 0.1}
	if got := o.quotas["RemoveVServerGroupBackendServers"]; got != want {
		t.Errorf("remove quota %v, want %v", got, want)
	}
	if got := o.quotas["DescribeLoadBalancers"]; got.Limited() {
		t.Errorf("DescribeLoadBalancers %v, want unlimited", got)
	}
	if got := o.quotas["SetVServerGroupAttribute"]; got.Calls != 90 || got.ForeignShare != 0.3 || !got.Sliding {
		t.Errorf("an untouched published quota %v: want 90/60s with the foreign share and the sliding window", got)
	}
	regional := slbsim.Quota{Calls: 5, Window: 10 * time.Second, Sliding: true, ForeignShare: 0.5}
	if got := o.regionQuotas["cn-beijing"]["RemoveVServerGroupBackendServers"]; got != regional {
		t.Errorf("regional quota %v, want %v (its own foreign share kept)", got, regional)
	}
	wantSticky := []sticky{
		{region: "cn-hangzhou", group: "rsp-sim0001", server: "i-sim0001-0001", port: 80, calls: 2},
		{region: "cn-beijing", group: "rsp-b", server: "eni-1", port: 8080, calls: slbsim.Forever},
	}
	if !reflect.DeepEqual(o.sticky, wantSticky) {
		t.Errorf("sticky %+v", o.sticky)
	}
	if o.securityToken != "env-token" || !reflect.DeepEqual(o.regions, []string{"cn-hangzhou", "cn-beijing"}) {
		t.Errorf("token %q regions %q", o.securityToken, o.regions)
	}

	o, err = parseFlags([]string{"--quota-table", "none", "--quota", "AddVServerGroupBackendServers=1/1s"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.quotas) != 1 || o.quotas["AddVServerGroupBackendServers"].Calls != 1 {
		t.Errorf("--quota-table none: %v", o.quotas)
	}
}

// TestRunWithSTSQuotaAndStickyServer drives the program's flags through the
// real SDK: an STS credential from the environment, a quota, regions with
// load balancers, and a sticky server.
func TestRunWithSTSQuotaAndStickyServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncbuf.Buffer
	urls := make(chan string, 1)
	done := make(chan error, 1)
	const token = "env-token-value"
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--region", "cn-hangzhou,cn-beijing",
			"--load-balancers", "2", "--groups-per-lb", "2", "--servers", "3",
			"--quota", "cn-beijing:RemoveVServerGroupBackendServers=2/1h,sliding",
			"--sticky", "cn-hangzhou/rsp-sim01g01/i-lbsim0001:80=1"},
			env(map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.env", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret",
				"ALIBABA_CLOUD_SECURITY_TOKEN": token}),
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
	sts := slbsim.STSCredential{AccessKeyID: "STS.env", AccessKeySecret: "env-secret", SecurityToken: token}
	client := func(region string, c slbsim.STSCredential) *slb.Client {
		cl, err := slbsim.NewSTSClient(url, region, c, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	remove := func(cl *slb.Client, group string) (*slb.RemoveVServerGroupBackendServersResponse, error) {
		req := slb.CreateRemoveVServerGroupBackendServersRequest()
		req.VServerGroupId = group
		req.BackendServers = `[{"ServerId":"i-lbsim0001","Port":"80","Type":"ecs"}]`
		return cl.RemoveVServerGroupBackendServers(req)
	}

	hz := client("cn-hangzhou", sts)
	for call, wantListed := range []int{3, 2} { // sticky for one call, then removed
		resp, err := remove(hz, "rsp-sim01g01")
		if err != nil {
			t.Fatalf("call %d: %v", call+1, err)
		}
		if n := len(resp.BackendServers.BackendServer); n != wantListed {
			t.Errorf("call %d lists %d servers, want %d", call+1, n, wantListed)
		}
	}
	lbs := slb.CreateDescribeLoadBalancersRequest()
	lbs.ServerId = "i-lbsim0002"
	found, err := hz.DescribeLoadBalancers(lbs)
	if err != nil || found.TotalCount != 2 {
		t.Errorf("load balancers holding i-lbsim0002: %v %+v", err, found)
	}

	bj := client("cn-beijing", sts)
	var throttled int
	for range 3 {
		if _, err := remove(bj, "rsp-sim02g01"); err != nil {
			var se *sdkerrors.ServerError
			if !errors.As(err, &se) || se.ErrorCode() != slbsim.CodeThrottlingUser {
				t.Fatalf("beijing: %v", err)
			}
			throttled++
		}
	}
	if throttled != 1 {
		t.Errorf("%d of 3 throttled in cn-beijing, want 1 over its 2/1h", throttled)
	}

	wrong := sts
	wrong.SecurityToken = "guess"
	_, err = remove(client("cn-hangzhou", wrong), "rsp-sim01g02")
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.ErrorCode() != slbsim.CodeSecurityTokenBad {
		t.Errorf("wrong token: %v", err)
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
	if strings.Contains(logs, token) || strings.Contains(logs, "env-secret") {
		t.Errorf("a secret is in the logs:\n%s", logs)
	}
	if !strings.Contains(logs, `"sts":true`) || !strings.Contains(logs, `RemoveVServerGroupBackendServers=90/60s`) {
		t.Errorf("start-up line does not show STS and the quotas:\n%s", logs)
	}
}

package slbsim

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNonceSetForgetsAfterTheWindow(t *testing.T) {
	n := newNonceSet()
	t0 := time.Date(2025, 1, 1, 12, 0, 30, 0, time.UTC)
	if !n.use("a", t0) {
		t.Fatal("fresh nonce refused")
	}
	if n.use("a", t0.Add(14*time.Minute)) {
		t.Fatal("nonce reused within the window")
	}
	if !n.use("b", t0.Add(time.Minute)) {
		t.Fatal("other nonce refused")
	}
	if !n.use("a", t0.Add(nonceWindow+2*time.Minute)) {
		t.Fatal("nonce still refused after the window")
	}
	if got := n.len(); got != 1 {
		t.Errorf("%d nonces kept, want only the last one: expired buckets must be dropped", got)
	}
}

func TestCallLogKeepsTheNewest(t *testing.T) {
	l := newCallLog(3)
	for i := range 5 {
		l.record(Call{RequestID: fmt.Sprint(i), Action: actionRemove, Servers: i})
	}
	s := &Sim{log: l}
	var ids []string
	for _, c := range s.Calls() {
		ids = append(ids, c.RequestID)
	}
	if got := strings.Join(ids, ","); got != "2,3,4" {
		t.Errorf("log holds %s, want 2,3,4", got)
	}
	if st := s.Stats(); st.Calls != 5 || st.MaxBatch != 4 || st.RemoveCalls != 5 {
		t.Errorf("stats %+v: counters must cover calls the log dropped", st)
	}
	s.Reset()
	if len(s.Calls()) != 0 || s.Stats() != (Stats{}) {
		t.Error("Reset left entries")
	}
}

func TestStringToSignMatchesAlibabaExample(t *testing.T) {
	// The worked example of Alibaba's RPC signature documentation
	// (DescribeRegions, secret "testsecret").
	p := map[string]string{
		"AccessKeyId":      "testid",
		"Action":           "DescribeRegions",
		"Format":           "XML",
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
		"SignatureVersion": "1.0",
		"Timestamp":        "2016-02-23T12:46:24Z",
		"Version":          "2014-05-26",
	}
	want := "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	if got := StringToSign(http.MethodGet, p); got != want {
		t.Fatalf("string to sign\n got %s\nwant %s", got, want)
	}
	if got := Sign(http.MethodGet, p, "testsecret"); got != "OLeaidS1JvxuMvnyHOwuJ+uX5qY=" {
		t.Errorf("signature %s", got)
	}
}

func TestParseBackendServers(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string // ServerID:Port:Type:Weight, or the error code
	}{
		{`[{"ServerId":"i-1","Port":"80","Type":"ecs"}]`, "i-1:80:ecs:100"},
		{`[{"ServerId":"i-1","Port":80}]`, "i-1:80:ecs:100"},
		{`[{"ServerId":"eni-1","Port":" 443 ","Type":"ENI","Weight":"0"}]`, "eni-1:443:eni:0"},
		{`[{'ServerId':'vm-233','Port':'80'}]`, "vm-233:80:ecs:100"},
		{`[{"ServerId":"i-1","Port":80,"Weight":101}]`, CodeBackendsMalformed},
		{`[{"ServerId":"i-1","Port":80.5}]`, CodeBackendsMalformed},
		{`[{"ServerId":"i-1","Port":null}]`, CodeBackendsMalformed},
		{`"i-1"`, CodeBackendsMalformed},
	} {
		got := ""
		list, apiErr := parseBackendServers(tc.raw)
		var bs []Backend
		if apiErr == nil {
			bs, apiErr = validateBackends(list)
		}
		if apiErr != nil {
			got = apiErr.code
		} else {
			got = fmt.Sprintf("%s:%d:%s:%d", bs[0].ServerID, bs[0].Port, bs[0].Type, bs[0].Weight)
		}
		if got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.raw, got, tc.want)
		}
	}
}

func TestSeedFromFileAndGenerated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "groups.json")
	err := os.WriteFile(path, []byte(`[{"region_id":"cn-beijing","vserver_group_id":"rsp-f",
		"backend_servers":[{"server_id":"i-f1","port":80},{"server_id":"eni-f2","port":8080,"type":"eni"}]},
		{"region_id":"cn-beijing","vserver_group_id":"rsp-f2","load_balancer_id":"lb-shared","backend_servers":[]},
		{"region_id":"cn-beijing","vserver_group_id":"rsp-f3","load_balancer_id":"lb-shared","backend_servers":[]}]`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := LoadGroupsFile(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	gen := GenerateGroups("cn-hangzhou", 2, 3)
	s := New(Config{})
	s.Seed(append(specs, gen...))
	if s.Groups() != 5 {
		t.Errorf("%d groups, want 5", s.Groups())
	}
	if ids := s.state.groupsOfLocked("cn-beijing", "lb-shared"); len(ids) != 2 {
		t.Errorf("lb-shared holds %v, want rsp-f2 and rsp-f3", ids)
	}
	if bs, ok := s.Backends("cn-beijing", "rsp-f"); !ok || backendIDs(bs) != "i-f1:80,eni-f2:8080" || bs[1].Type != "eni" || bs[0].Weight != 100 {
		t.Errorf("file group: %+v", bs)
	}
	if bs, ok := s.Backends("cn-hangzhou", "rsp-sim0002"); !ok || backendIDs(bs) != "i-sim0002-0001:80,i-sim0002-0002:80,i-sim0002-0003:80" {
		t.Errorf("generated group: %q", backendIDs(bs))
	}

	lbs := New(Config{})
	lbs.Seed(GenerateLoadBalancers("cn-hangzhou", 3, 4, 2))
	if lbs.Groups() != 12 {
		t.Errorf("%d groups, want 3 load balancers of 4", lbs.Groups())
	}
	if bs, ok := lbs.Backends("cn-hangzhou", "rsp-sim03g04"); !ok || backendIDs(bs) != "i-lbsim0001:83,i-lbsim0002:83" {
		t.Errorf("generated load balancer group: %q", backendIDs(bs))
	}
	st := lbs.state
	if ids := st.groupsOfLocked("cn-hangzhou", "lb-sim02"); len(ids) != 4 || ids[0] != "rsp-sim02g01" {
		t.Errorf("lb-sim02 holds %v", ids)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"region_id":"cn-beijing","vserver_group_id":"rsp-f","backend_servers":[{"server_id":"i-1"}]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGroupsFile(bad); err == nil || !strings.Contains(err.Error(), "rsp-f") {
		t.Errorf("portless server: err %v", err)
	}
}

func TestNewClientRejectsBadEndpoints(t *testing.T) {
	for _, u := range []string{"127.0.0.1:9100", "ftp://127.0.0.1:9100", "http://"} {
		if _, err := NewClient(u, testRegion, testAK, testSecret, time.Second); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

package messages

import (
	"errors"
	"strings"
	"testing"
)

func TestSubjectBuilders(t *testing.T) {
	if got := RequestSubject("cn-hangzhou", "rsp-1"); got != "slb.drain.request.cn-hangzhou.rsp-1" {
		t.Errorf("RequestSubject = %s", got)
	}
	if got := EventSubject(StatusFailed, "cn-hangzhou", "rsp-1"); got != "slb.drain.event.failed.cn-hangzhou.rsp-1" {
		t.Errorf("EventSubject = %s", got)
	}
	if got := ProgressSubject("cn-hangzhou", "rsp-1"); got != "slb.drain.progress.cn-hangzhou.rsp-1" {
		t.Errorf("ProgressSubject = %s", got)
	}
	// Each builder's subjects fall under its stream's filter.
	for _, tc := range [][2]string{
		{RequestSubjects, RequestSubject("a", "b")},
		{EventSubjects, EventSubject(StatusCompleted, "a", "b")},
		{ProgressSubjects, ProgressSubject("a", "b")},
	} {
		if !strings.HasPrefix(tc[1], strings.TrimSuffix(tc[0], ">")) {
			t.Errorf("%s not under %s", tc[1], tc[0])
		}
	}
	if got := EventMsgID("r-1"); got != "event:r-1" {
		t.Errorf("EventMsgID = %s", got)
	}
	if got := EventSeqMsgID(18446744073709551615); got != "event:seq:18446744073709551615" {
		t.Errorf("EventSeqMsgID = %s", got)
	}
}

func TestParseRequestSubjectRoundTrip(t *testing.T) {
	for _, tc := range [][2]string{
		{"cn-hangzhou", "rsp-cige6j5e7p"},
		{"ap-southeast-1", "rsp-0"},
		{"us-east-1", "rsp-abc123"},
	} {
		region, group, err := ParseRequestSubject(RequestSubject(tc[0], tc[1]))
		if err != nil || region != tc[0] || group != tc[1] {
			t.Errorf("ParseRequestSubject(RequestSubject(%q, %q)) = %q, %q, %v", tc[0], tc[1], region, group, err)
		}
	}
}

func TestParseRequestSubjectErrors(t *testing.T) {
	for _, subject := range []string{
		"",
		"slb.drain.request",
		"slb.drain.request.",
		"slb.drain.request.cn-hangzhou",
		"slb.drain.request.cn-hangzhou.",
		"slb.drain.request..rsp-1",
		"slb.drain.request.cn-hangzhou.rsp-1.extra",
		"slb.drain.event.cn-hangzhou.rsp-1",
		"xslb.drain.request.cn-hangzhou.rsp-1",
	} {
		region, group, err := ParseRequestSubject(subject)
		if !errors.Is(err, ErrNotRequestSubject) || region != "" || group != "" {
			t.Errorf("ParseRequestSubject(%q) = %q, %q, %v", subject, region, group, err)
		}
	}
	// Right shape, invalid tokens: an error, but the tokens come back so a
	// rejected event can keep the valid one.
	region, group, err := ParseRequestSubject("slb.drain.request.cn-hangzhou.RSP")
	if err == nil || errors.Is(err, ErrNotRequestSubject) || region != "cn-hangzhou" || group != "RSP" {
		t.Errorf("invalid group token: %q, %q, %v", region, group, err)
	}
	o := Outcome{Status: StatusRejected, RegionID: region, VServerGroupID: group}
	if got := o.Subject(); got != "slb.drain.event.rejected.cn-hangzhou.unknown" {
		t.Errorf("rejected subject = %s", got)
	}
	region, group, err = ParseRequestSubject("slb.drain.request.x.rsp-1")
	if err == nil || region != "x" || group != "rsp-1" {
		t.Errorf("invalid region token: %q, %q, %v", region, group, err)
	}
}

func TestValidIDs(t *testing.T) {
	for _, tc := range []struct {
		f    func(string) bool
		name string
		ok   []string
		bad  []string
	}{
		{ValidRegionID, "region", []string{"cn-hangzhou", "ap-southeast-1", "cn-hangzhou-finance", "us-east-1a", "ab-0"},
			[]string{"", "cn", "c-x", "cn-", "-cn", "cn--x", "cn-x-", "CN-x", "cn-X", "c1-x", "cn_x", "cn-x.y", "cn-hangzhou\n"}},
		{ValidGroupID, "group", []string{"rsp-1", "rsp-cige6j5e7p"},
			[]string{"", "rsp-", "rsp", "RSP-1", "rsp-A", "rsp_1", "rs-1", "rsp-1-2", "xrsp-1", "rsp-1\n"}},
		{ValidRequestID, "request", []string{"a", "asg-42:scale.in_0001", strings.Repeat("x", 128)},
			[]string{"", strings.Repeat("x", 129), "a b", "a/b", "é", "a*", "a>"}},
		{ValidServerID, "server", []string{"i-bp1a2b3c4d5e6f7g8h9", "eni_x", strings.Repeat("x", 64)},
			[]string{"", strings.Repeat("x", 65), "i.x", "i:x", "i x"}},
	} {
		for _, s := range tc.ok {
			if !tc.f(s) {
				t.Errorf("%s %q refused", tc.name, s)
			}
		}
		for _, s := range tc.bad {
			if tc.f(s) {
				t.Errorf("%s %q accepted", tc.name, s)
			}
		}
	}
}

// TestValidIDsMatchPatterns compares the hand-written checks with the
// schema's regular expressions over every short string of a small alphabet.
func TestValidIDsMatchPatterns(t *testing.T) {
	alphabet := []byte("ab1-_.:Rs p")
	var each func(prefix []byte, n int, f func(string))
	each = func(prefix []byte, n int, f func(string)) {
		f(string(prefix))
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			each(append(prefix, c), n-1, f)
		}
	}
	checks := []struct {
		name    string
		f       func(string) bool
		pattern string
	}{
		{"region", ValidRegionID, `^[a-z]{2,}(-[a-z0-9]+)+$`},
		{"group", ValidGroupID, `^rsp-[a-z0-9]+$`},
		{"request", ValidRequestID, `^[A-Za-z0-9._:-]{1,128}$`},
		{"server", ValidServerID, `^[A-Za-z0-9_-]{1,64}$`},
	}
	each(nil, 5, func(s string) {
		for _, c := range checks {
			for _, candidate := range []string{s, "rsp-" + s} {
				if got, want := c.f(candidate), schemaRegexp(c.pattern).MatchString(candidate); got != want {
					t.Fatalf("%s(%q) = %v, pattern says %v", c.name, candidate, got, want)
				}
			}
		}
	})
}

func TestBackendServerString(t *testing.T) {
	for _, tc := range []struct {
		b    BackendServer
		want string
	}{
		{BackendServer{ServerID: "i-abc", Port: 80, Type: "ecs"}, "i-abc:80:ecs"},
		{BackendServer{ServerID: "i-abc", Port: 80, Type: ""}, "i-abc:80:ecs"},
		{BackendServer{ServerID: "eni-x", Port: 8080, Type: "eni"}, "eni-x:8080:eni"},
	} {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("%#v.String() = %s, want %s", tc.b, got, tc.want)
		}
	}
}

func TestParseBackendServer(t *testing.T) {
	for in, want := range map[string]BackendServer{
		"i-abc:80":        {ServerID: "i-abc", Port: 80, Type: "ecs"},
		"i-abc:80:ecs":    {ServerID: "i-abc", Port: 80, Type: "ecs"},
		"eni-x:8080:eni":  {ServerID: "eni-x", Port: 8080, Type: "eni"},
		"eci_1:65535:eci": {ServerID: "eci_1", Port: 65535, Type: "eci"},
	} {
		got, err := ParseBackendServer(in)
		if err != nil || got != want {
			t.Errorf("ParseBackendServer(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := ParseBackendServer(got.String()); back != got {
			t.Errorf("String round trip of %v gave %v", got, back)
		}
	}
	for _, in := range []string{"", "i-abc", "i-abc:", ":80", "i-abc:0", "i-abc:65536", "i-abc:+80", "i-abc:80:ECS", "i-abc:80:ecs:x", "i.abc:80", "i-abc:eighty"} {
		if got, err := ParseBackendServer(in); err == nil {
			t.Errorf("ParseBackendServer(%q) = %v, want an error", in, got)
		}
	}
}

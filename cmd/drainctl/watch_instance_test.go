package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/slbdrain/slbdrain/internal/syncbuf"
)

// watch --group G shows the instance-scope events whose groups include G
// (on the instances token), and not those of other groups.
func TestWatchGroupSeesInstanceEvents(t *testing.T) {
	e := newEnv(t)
	e.startWorker()
	e.instanceFleet()
	for _, args := range [][]string{
		{"--instance", "i-z", "--request-id", "inst-z"},                         // rsp-admin and rsp-other: not rsp-api
		{"--instance", "i-x", "--request-id", "inst-x"},                         // rsp-web, rsp-api, rsp-admin
		{"--group", "rsp-web", "--server", "i-y:80", "--request-id", "grp-web"}, // group scope, another group
	} {
		if r := e.drainctl("", append([]string{"drain", "--region", testRegion, "--force", "--wait"}, args...)...); r.code != exitOK {
			t.Fatalf("drain %v: want exit 0\n%s", args, r)
		}
	}
	if r := e.drainctl("", "drain", "--region", testRegion, "--group", "rsp-api", "--server", "i-y:9000", "--request-id", "grp-api", "--force", "--wait"); r.code != exitOK {
		t.Fatalf("drain: want exit 0\n%s", r)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newLineWriter()
	stderr := &syncbuf.Buffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--nats-url", e.url, "watch", "--group", "rsp-api", "--since", "1h"}, strings.NewReader(""), out, stderr)
	}()
	var seen []string
	waitLine(t, out, "grp-api", func(l string) bool {
		for _, id := range []string{"inst-z", "inst-x", "grp-web", "grp-api"} {
			if strings.Contains(l, "  "+id+"  ") {
				seen = append(seen, id)
			}
		}
		if strings.Contains(l, "  inst-x  ") {
			for _, want := range []string{"completed", "cn-hangzhou/instances", "1 instance", "drain remove, 3 groups"} {
				if !strings.Contains(l, want) {
					t.Errorf("line %q lacks %q", l, want)
				}
			}
		}
		return strings.Contains(l, "grp-api")
	})
	if !slices.Equal(seen, []string{"inst-x", "grp-api"}) {
		t.Errorf("watch --group rsp-api showed %v, want inst-x (whose groups include rsp-api) and grp-api", seen)
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("watch ended with exit %d on interrupt, want 0", c)
	}
	if s := stderr.String(); !strings.Contains(s, "slb.drain.event.*.*.rsp-api and slb.drain.event.*.*.instances") {
		t.Errorf("watch does not say what it follows: %q", s)
	}
}

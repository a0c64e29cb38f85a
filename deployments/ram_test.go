package deployments

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/slbdrain/slbdrain/worker"
)

// The RAM policy allows every action the worker calls, and only SLB actions.
func TestRAMPolicyCoversTheWorkersCalls(t *testing.T) {
	data, err := os.ReadFile("ram/policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   []string
			Resource string
		}
	}
	if err := json.Unmarshal(data, &policy); err != nil {
		t.Fatalf("ram/policy.json: %v", err)
	}
	var allowed []string
	for _, st := range policy.Statement {
		if st.Effect != "Allow" {
			t.Errorf("statement with effect %q, want Allow only", st.Effect)
		}
		allowed = append(allowed, st.Action...)
	}
	for _, action := range []string{worker.ActionRemove, worker.ActionAdd, worker.ActionSetAttribute, worker.ActionDescribe,
		"DescribeVServerGroups", "DescribeLoadBalancers"} { // the last two: instance scope (contract, version 2)
		if !slices.Contains(allowed, "slb:"+action) {
			t.Errorf("ram/policy.json does not allow slb:%s", action)
		}
	}
	if len(allowed) != 6 {
		t.Errorf("ram/policy.json allows %d actions %v, want the 6 the contract names", len(allowed), allowed)
	}
}

package slbsim

const (
	apiVersion = "2014-05-15"

	actionRemove         = "RemoveVServerGroupBackendServers"
	actionAdd            = "AddVServerGroupBackendServers"
	actionSet            = "SetVServerGroupAttribute"
	actionCreate         = "CreateVServerGroup"
	actionDescribe       = "DescribeVServerGroupAttribute"
	actionDescribeGroups = "DescribeVServerGroups"
	actionDescribeLBs    = "DescribeLoadBalancers"
)

// actionFunc performs an authenticated, admitted call and returns the
// response body (marshalled as JSON) or an API error.
type actionFunc func(s *Sim, c *call) (any, *apiError)

// actions are the SLB API actions the emulator implements: the writes in
// writes.go, the reads in reads.go.
var actions = map[string]actionFunc{
	actionRemove:         (*Sim).removeBackends,
	actionAdd:            (*Sim).addBackends,
	actionSet:            (*Sim).setGroupAttribute,
	actionCreate:         (*Sim).createGroup,
	actionDescribe:       (*Sim).describeGroup,
	actionDescribeGroups: (*Sim).describeGroups,
	actionDescribeLBs:    (*Sim).describeLoadBalancers,
}

// writesGroup are the actions that change a VServer group named by
// VServerGroupId: two of them at once on one group are an overlap.
var writesGroup = map[string]bool{actionRemove: true, actionAdd: true, actionSet: true}

// backendsParam validates the BackendServers parameter of c.
func backendsParam(c *call) ([]Backend, *apiError) {
	if c.params["BackendServers"] == "" {
		return nil, missing("BackendServers")
	}
	if c.wireErr != nil {
		return nil, c.wireErr
	}
	return validateBackends(c.wire)
}

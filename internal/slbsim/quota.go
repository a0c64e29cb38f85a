package slbsim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Quota is one rule of Alibaba's API flow control: at most Calls calls per
// Window, counted separately for each (region, API action, account), and
// shared by every caller of the account. A call over it is answered
// 400 Throttling.User. The zero Quota is no limit.
type Quota struct {
	Calls  int
	Window time.Duration
	// Sliding counts, at each call, the calls of the Window before it.
	// Without it the windows are fixed: they start at whole multiples of
	// Window since the Unix epoch (Alibaba publishes "N/W(s)" without saying
	// where its windows start; a client must not rely on either).
	Sliding bool
	// ForeignShare, from 0 to 1, is the share of each window that another
	// tool of the same account (the console, Terraform, a cloud controller)
	// spends. It spends it first, at the start of the window, which is the
	// hardest case for a client: it sees only the rest, and learns how much
	// from its throttled answers.
	ForeignShare float64
	// ForeignJitter varies the foreign share from window to window,
	// uniformly in ForeignShare ± ForeignJitter (clamped to 0..1), so a
	// client cannot learn its share once and for all. The draw is a hash of
	// the window and the key, seeded by Config.Seed: runs are reproducible.
	ForeignJitter float64
}

// Limited reports whether q limits anything.
func (q Quota) Limited() bool { return q.Calls > 0 && q.Window > 0 }

// Foreign is the number of calls the foreign consumer spends in a window
// with no jitter: ForeignShare of Calls, rounded to the nearest call.
func (q Quota) Foreign() int { return q.foreignAt(q.ForeignShare) }

// Available is what a window leaves a client when the foreign consumer
// spends its share (without jitter): the bound a benchmark computes with.
func (q Quota) Available() int { return q.Calls - q.Foreign() }

func (q Quota) foreignAt(share float64) int {
	share = min(max(share, 0), 1)
	return int(math.Round(share * float64(q.Calls)))
}

// String is the quota in the form ParseQuota reads: "90/60s", with
// ",sliding" and ",foreign=0.3" (or "0.3±0.1") when set.
func (q Quota) String() string {
	if !q.Limited() {
		return "unlimited"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%s", q.Calls, windowString(q.Window))
	if q.Sliding {
		b.WriteString(",sliding")
	}
	if q.ForeignShare > 0 || q.ForeignJitter > 0 {
		b.WriteString(",foreign=" + strconv.FormatFloat(q.ForeignShare, 'f', -1, 64))
		if q.ForeignJitter > 0 {
			b.WriteString("±" + strconv.FormatFloat(q.ForeignJitter, 'f', -1, 64))
		}
	}
	return b.String()
}

// windowString writes whole seconds as Alibaba does ("60s"), anything else
// as a Go duration.
func windowString(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// ParseQuota reads "N/W" with W a Go duration ("90/60s", "15/10s", "5/1s"),
// optionally followed by ",sliding" and ",foreign=SHARE" or
// ",foreign=SHARE±JITTER" (also "+-"). "unlimited" and "0" are no limit.
func ParseQuota(s string) (Quota, error) {
	s = strings.TrimSpace(s)
	if s == "unlimited" || s == "0" {
		return Quota{}, nil
	}
	parts := strings.Split(s, ",")
	calls, window, ok := strings.Cut(parts[0], "/")
	if !ok {
		return Quota{}, fmt.Errorf("quota %q: want N/W, e.g. 90/60s", s)
	}
	var q Quota
	var err error
	if q.Calls, err = strconv.Atoi(strings.TrimSpace(calls)); err != nil || q.Calls < 1 {
		return Quota{}, fmt.Errorf("quota %q: calls %q: want a whole number above 0", s, calls)
	}
	if q.Window, err = time.ParseDuration(strings.TrimSpace(window)); err != nil || q.Window <= 0 {
		return Quota{}, fmt.Errorf("quota %q: window %q: want a positive duration such as 60s", s, window)
	}
	for _, opt := range parts[1:] {
		opt = strings.TrimSpace(opt)
		switch {
		case opt == "sliding":
			q.Sliding = true
		case strings.HasPrefix(opt, "foreign="):
			if q.ForeignShare, q.ForeignJitter, err = parseShare(strings.TrimPrefix(opt, "foreign=")); err != nil {
				return Quota{}, fmt.Errorf("quota %q: %w", s, err)
			}
		default:
			return Quota{}, fmt.Errorf("quota %q: unknown option %q (want sliding or foreign=SHARE)", s, opt)
		}
	}
	return q, nil
}

func parseShare(s string) (share, jitter float64, err error) {
	s = strings.ReplaceAll(s, "+-", "±")
	shareText, jitterText, hasJitter := strings.Cut(s, "±")
	if share, err = strconv.ParseFloat(shareText, 64); err != nil || share < 0 || share > 1 {
		return 0, 0, fmt.Errorf("foreign share %q: want a number from 0 to 1", shareText)
	}
	if hasJitter {
		if jitter, err = strconv.ParseFloat(jitterText, 64); err != nil || jitter < 0 || jitter > 1 {
			return 0, 0, fmt.Errorf("foreign jitter %q: want a number from 0 to 1", jitterText)
		}
	}
	return share, jitter, nil
}

// Quotas maps an API action to its quota. An action not in it is not
// limited.
type Quotas map[string]Quota

// ParseActionQuota reads "ACTION=N/W[,options]", the form of cmd/slbsim's
// --quota flag. ACTION must be one the emulator implements.
func ParseActionQuota(s string) (action string, q Quota, err error) {
	action, rule, ok := strings.Cut(s, "=")
	action = strings.TrimSpace(action)
	if !ok || action == "" {
		return "", Quota{}, fmt.Errorf("quota %q: want ACTION=N/W, e.g. RemoveVServerGroupBackendServers=90/60s", s)
	}
	if _, known := actions[action]; !known {
		return "", Quota{}, fmt.Errorf("quota for %s: %w", action, errUnknownAction)
	}
	q, err = ParseQuota(rule)
	if err != nil {
		return "", Quota{}, fmt.Errorf("%s: %w", action, err)
	}
	return action, q, nil
}

// Clone returns a copy of qs that can be changed without changing qs.
func (qs Quotas) Clone() Quotas {
	out := make(Quotas, len(qs))
	for a, q := range qs {
		out[a] = q
	}
	return out
}

// WithForeignShare returns a copy of qs whose every quota has the given
// foreign consumer.
func (qs Quotas) WithForeignShare(share, jitter float64) Quotas {
	out := qs.Clone()
	for a, q := range out {
		q.ForeignShare, q.ForeignJitter = share, jitter
		out[a] = q
	}
	return out
}

// errUnknownAction is returned for a quota on an action the emulator does
// not implement, which is most likely a misspelling.
var errUnknownAction = errors.New("the emulator does not implement this action")

// AlibabaQuotas returns the default quotas of a new Alibaba Cloud account
// for the SLB API (version 2014-05-15) actions the emulator implements, per
// region and account. Each call returns a fresh map.
//
// Published figures (the "流控信息" of each action's page on api.aliyun.com,
// and the Quota Center's API rate limits):
//   - RemoveVServerGroupBackendServers: 90/60s (slbdrain's contract.md, from
//     Alibaba's published table);
//   - CreateVServerGroup: 90/60s (api.aliyun.com/document/Slb/2014-05-15/CreateVServerGroup).
//
// Not found in what we could read, so chosen to look like the published ones
// and said so here:
//   - AddVServerGroupBackendServers and SetVServerGroupAttribute: 90/60s,
//     the figure of the other VServer-group writes;
//   - DescribeVServerGroupAttribute, DescribeVServerGroups and
//     DescribeLoadBalancers: 270/60s, three times the writes, the ratio of
//     the reads to the writes in Alibaba's published GWLB table (600/60s
//     against 200/60s).
func AlibabaQuotas() Quotas {
	perMinute := func(n int) Quota { return Quota{Calls: n, Window: time.Minute} }
	return Quotas{
		actionRemove:         perMinute(90),
		actionCreate:         perMinute(90),
		actionAdd:            perMinute(90),
		actionSet:            perMinute(90),
		actionDescribe:       perMinute(270),
		actionDescribeGroups: perMinute(270),
		actionDescribeLBs:    perMinute(270),
	}
}

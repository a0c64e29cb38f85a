package deployments

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// exportedMetrics are the metric families drainworker exports, by kind: the
// names are final, and the dashboard and the alerts may use no other.
var exportedMetrics = map[string]string{
	"slbdrain_requests_received_total":      "counter",
	"slbdrain_redeliveries_total":           "counter",
	"slbdrain_outcomes_total":               "counter",
	"slbdrain_api_calls_total":              "counter",
	"slbdrain_event_publish_failures_total": "counter",
	"slbdrain_api_call_duration_seconds":    "histogram",
	"slbdrain_servers_per_call":             "histogram",
	"slbdrain_request_latency_seconds":      "histogram",
	"slbdrain_calls_in_flight":              "gauge",
	"slbdrain_held_requests":                "gauge",
	"slbdrain_active_groups":                "gauge",
	"slbdrain_rate_limit_calls_per_second":  "gauge",
	"slbdrain_credentials_failing":          "gauge",
	"slbdrain_consumer_pending":             "gauge",
	"slbdrain_consumer_ack_pending":         "gauge",
}

var metricRef = regexp.MustCompile(`\bslbdrain_[a-zA-Z0-9_]+`)

// TestExportedMetricsAreInTheCode: a metric renamed in the worker must not
// leave the dashboard and the alerts querying the old name. The names are
// string literals in the worker's code (outside tests).
func TestExportedMetricsAreInTheCode(t *testing.T) {
	literal := regexp.MustCompile(`"(slbdrain_[a-z0-9_]+)"`)
	inCode := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && (d.Name() == "deployments" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != ".."):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(data), -1) {
			inCode[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sortedKeys(exportedMetrics) {
		if !inCode[m] {
			t.Errorf("%s is not a string literal in the code: renamed or removed? Update the dashboard, the alerts and this list", m)
		}
	}
}

// metricsIn returns the families an expression uses, and an error naming
// any series that is not one drainworker exports: an unknown name, a
// histogram without its _bucket, _sum or _count, a suffix on a non-histogram.
func metricsIn(expr string) ([]string, error) {
	var fams []string
	var errs []error
	for _, name := range metricRef.FindAllString(expr, -1) {
		fam := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && exportedMetrics[base] == "histogram" {
				fam = base
			}
		}
		switch kind, ok := exportedMetrics[fam]; {
		case !ok:
			errs = append(errs, fmt.Errorf("%s is not a metric drainworker exports", name))
		case kind == "histogram" && fam == name:
			errs = append(errs, fmt.Errorf("%s is a histogram: use its _bucket, _sum or _count series", name))
		default:
			fams = append(fams, fam)
		}
	}
	return fams, errors.Join(errs...)
}

// balanced is a stand-in for a PromQL parser: brackets pair up outside
// string literals, strings and comments end.
func balanced(expr string) error {
	if strings.TrimSpace(expr) == "" {
		return errors.New("empty expression")
	}
	closer := map[rune]rune{')': '(', ']': '[', '}': '{'}
	var stack []rune
	var quote rune
	escaped, comment := false, false
	for i, c := range expr {
		switch {
		case comment:
			comment = c != '\n'
		case quote != 0:
			switch {
			case escaped:
				escaped = false
			case c == '\\' && quote != '`':
				escaped = true
			case c == quote:
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '#':
			comment = true
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case closer[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != closer[c] {
				return fmt.Errorf("unmatched %q at offset %d", c, i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if quote != 0 {
		return fmt.Errorf("unterminated %c string", quote)
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %q", stack[len(stack)-1])
	}
	return nil
}

func TestBalanced(t *testing.T) {
	for expr, ok := range map[string]bool{
		`sum by (le) (rate(x_bucket{job=~"a.*"}[5m]))`: true,
		`rate(x{a="(" , b=')'}[1m])`:                   true,
		`x{a="\")"}`:                                   true,
		"x # a comment with ( and \"\ny":               true,
		`sum(rate(x[5m])`:                              false,
		`sum(rate(x[5m)))`:                             false,
		`x{a="b}`:                                      false,
		`x{a='b\'}`:                                    false,
		`x)`:                                           false,
		`  `:                                           false,
	} {
		if err := balanced(expr); (err == nil) != ok {
			t.Errorf("balanced(%q) = %v, want ok %v", expr, err, ok)
		}
	}
}

func TestMetricsIn(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want string // families, or the error's beginning
	}{
		{`histogram_quantile(0.5, sum by (le) (rate(slbdrain_servers_per_call_bucket[5m])))`, "[slbdrain_servers_per_call]"},
		{`rate(slbdrain_servers_per_call_sum[1m]) / rate(slbdrain_servers_per_call_count[1m])`, "[slbdrain_servers_per_call slbdrain_servers_per_call]"},
		{`sum(rate(slbdrain_outcomes_total{status="failed"}[5m])) > 0 and up == 0`, "[slbdrain_outcomes_total]"},
		{`rate(slbdrain_outcome_total[5m])`, "slbdrain_outcome_total is not"},
		{`rate(slbdrain_outcomes_total_count[5m])`, "slbdrain_outcomes_total_count is not"},
		{`rate(slbdrain_request_latency_seconds[5m])`, "slbdrain_request_latency_seconds is a histogram"},
	} {
		fams, err := metricsIn(tt.expr)
		got := fmt.Sprint(fams)
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("metricsIn(%q) = %s, want %s", tt.expr, got, tt.want)
		}
	}
}

// dashboard is the part of the Grafana model the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

func TestDashboard(t *testing.T) {
	var d dashboard
	readJSON(t, "grafana/slbdrain.json", &d)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want an identified dashboard of schema 36 or later", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{}
	var exprs []string
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Name == "datasource" && (v.Type != "datasource" || v.Query != "prometheus") {
			t.Errorf("variable datasource is %s of %v, want a prometheus datasource variable", v.Type, v.Query)
		}
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	if !vars["datasource"] {
		t.Fatal("no ${datasource} variable")
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			if p.Datasource["uid"] != "${datasource}" {
				t.Errorf("panel %q queries %v, not ${datasource}", p.Title, p.Datasource)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil && tg.Datasource["uid"] != "${datasource}" {
					t.Errorf("panel %q target %s queries %v, not ${datasource}", p.Title, tg.RefID, tg.Datasource)
				}
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, e := range exprs {
		if err := balanced(e); err != nil {
			t.Errorf("%s: %v", e, err)
		}
		fams, err := metricsIn(e)
		if err != nil {
			t.Errorf("%s: %v", e, err)
		}
		for _, f := range fams {
			used[f] = true
		}
	}
	for _, m := range sortedKeys(exportedMetrics) {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}

// ruleFile is Prometheus's rule file format.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlerts(t *testing.T) {
	const path = "prometheus/alerts.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Prometheus refuses unknown keys (a misspelt "anotations"): so do we.
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: want a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule that is no alert (record %q)", g.Name, r.Record)
				continue
			}
			if alerts[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			alerts[r.Alert] = true
			if err := balanced(r.Expr); err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			}
			if _, err := metricsIn(r.Expr); err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s has no severity label", r.Alert)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s has no %s annotation", r.Alert, a)
				}
			}
			// Annotations are Go templates: their braces must pair up too.
			for k, v := range r.Annotations {
				if strings.Count(v, "{{") != strings.Count(v, "}}") {
					t.Errorf("alert %s annotation %s: unbalanced {{ }}", r.Alert, k)
				}
			}
		}
	}
	for _, want := range []string{"SLBDrainFailedOutcomes", "SLBDrainSustainedThrottling", "SLBDrainBacklogGrowing",
		"SLBDrainWorkerNotReady", "SLBDrainEventPublishFailures"} {
		if !alerts[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
}

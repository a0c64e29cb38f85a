package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one scenario's outcome: the medians of every figure per system,
// the goals they are held to, and the other ratios worth tracking. Its JSON
// form is one line of drainbench -json.
type result struct {
	Scenario    string          `json:"scenario"`
	Description string          `json:"description"`
	Time        time.Time       `json:"time"`
	Machine     machine         `json:"machine"`
	Params      map[string]any  `json:"params"`
	Runs        int             `json:"runs"`
	Complete    bool            `json:"complete"` // every request of every run ended completed, once, and acked
	Systems     []systemFigures `json:"systems"`
	Goals       []goal          `json:"goals"`
	Ratios      []ratio         `json:"ratios,omitempty"`
	Notes       []string        `json:"notes,omitempty"`
	WallSeconds float64         `json:"wall_seconds"`
	columns     []column
}

type systemFigures struct {
	System string    `json:"system"`
	Median figures   `json:"median"`
	Runs   []figures `json:"runs"`
}

// goal is a ratio (or figure) and the bound it is held to.
type goal struct {
	Name  string  `json:"name"`
	What  string  `json:"what"`
	Value float64 `json:"value"`
	Op    string  `json:"op"` // "<=" or ">="
	Limit float64 `json:"limit"`
	Met   bool    `json:"met"`
}

type ratio struct {
	Name  string  `json:"name"`
	What  string  `json:"what"`
	Value float64 `json:"value"`
}

// column is one figure in the table.
type column struct {
	key    string
	header string
	format string // fmt verb for the value
}

type machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	LoadAvg    string `json:"loadavg,omitempty"` // at the scenario's start: the machine is shared
}

func currentMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version()}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

func atMost(name, what string, value, limit float64) goal {
	return goal{Name: name, What: what, Value: value, Op: "<=", Limit: limit, Met: value <= limit}
}

func atLeast(name, what string, value, limit float64) goal {
	return goal{Name: name, What: what, Value: value, Op: ">=", Limit: limit, Met: value >= limit}
}

// addGoal adds g, unless its value could not be computed (a system it
// needs was not run: -systems).
func (r *result) addGoal(g goal) {
	if math.IsNaN(g.Value) || math.IsInf(g.Value, 0) {
		return
	}
	r.Goals = append(r.Goals, g)
}

// completeGoal holds every scenario to its first promise: all requests done.
func completeGoal(runs map[string][]figures) goal {
	worst := 1.0
	for _, fs := range runs {
		for _, f := range fs {
			worst = min(worst, f["completed_fraction"])
		}
	}
	return atLeast("all_completed", "requests completed (or failed at their deadline, where the row expects it), one event each, acked (worst run)", worst, 1)
}

// summarize turns the runs into medians, in the systems' order.
func summarize(order []string, runs map[string][]figures) []systemFigures {
	var out []systemFigures
	for _, name := range order {
		fs := runs[name]
		if len(fs) == 0 {
			continue
		}
		keys := map[string]bool{}
		for _, f := range fs {
			for k := range f {
				keys[k] = true
			}
		}
		med := figures{}
		for k := range keys {
			var vs []float64
			for _, f := range fs {
				if v, ok := f[k]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
					vs = append(vs, v)
				}
			}
			if len(vs) > 0 {
				med[k] = median(vs)
			}
		}
		out = append(out, systemFigures{System: name, Median: med, Runs: sanitized(fs)})
	}
	return out
}

func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// sanitized drops non-finite values, which JSON cannot carry.
func sanitized(fs []figures) []figures {
	out := make([]figures, len(fs))
	for i, f := range fs {
		out[i] = maps.Clone(f)
		maps.DeleteFunc(out[i], func(_ string, v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) })
	}
	return out
}

// ratioOf is a/b, NaN when b is zero.
func ratioOf(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func (r *result) median(system, key string) float64 {
	for _, s := range r.Systems {
		if s.System == system {
			if v, ok := s.Median[key]; ok {
				return v
			}
		}
	}
	return math.NaN()
}

// worst is the largest of system's key over its runs.
func (r *result) worst(system, key string) float64 {
	w := math.NaN()
	for _, s := range r.Systems {
		if s.System != system {
			continue
		}
		for _, f := range s.Runs {
			if v, ok := f[key]; ok && (math.IsNaN(w) || v > w) {
				w = v
			}
		}
	}
	return w
}

func (r *result) addRatio(name, what string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	r.Ratios = append(r.Ratios, ratio{Name: name, What: what, Value: v})
}

func writeJSON(w io.Writer, r *result) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result of %s: %w", r.Scenario, err)
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

func writeTable(w io.Writer, r *result) {
	fmt.Fprintf(w, "\n== %s: %s\n", r.Scenario, r.Description)
	fmt.Fprintf(w, "   %d runs per system, medians; %.0fs wall; load average at start %s\n", r.Runs, r.WallSeconds, r.Machine.LoadAvg)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"system"}
	for _, c := range r.columns {
		header = append(header, c.header)
	}
	fmt.Fprintln(tw, "   \t"+strings.Join(header, "\t")+"\t")
	for _, s := range r.Systems {
		row := []string{s.System}
		for _, c := range r.columns {
			if v, ok := s.Median[c.key]; ok {
				row = append(row, fmt.Sprintf(c.format, v))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, "   \t"+strings.Join(row, "\t")+"\t")
	}
	_ = tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, g := range r.Goals {
		fmt.Fprintf(tw, "   goal\t%s\t%10.3f %s %g\t%s\n", g.What, g.Value, opSign(g.Op), g.Limit, metWord(g.Met))
	}
	for _, x := range r.Ratios {
		fmt.Fprintf(tw, "   ratio\t%s\t%10.3f\n", x.What, x.Value)
	}
	_ = tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "   note   %s\n", n)
	}
}

func writeSummary(w io.Writer, results []*result) {
	fmt.Fprintf(w, "\n== goals\n")
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, r := range results {
		label := r.Scenario
		if n, ok := r.Params["requests"]; ok {
			label = fmt.Sprintf("%s (%v)", r.Scenario, n)
		}
		for _, g := range r.Goals {
			fmt.Fprintf(tw, "   %s\t%s\t%10.3f %s %g\t%s\n", label, g.Name, g.Value, opSign(g.Op), g.Limit, metWord(g.Met))
		}
	}
	_ = tw.Flush()
}

func opSign(op string) string {
	if op == "<=" {
		return "≤"
	}
	return "≥"
}

func metWord(met bool) string {
	if met {
		return "met"
	}
	return "NOT MET"
}

// newResult starts a scenario's result.
func newResult(name, description string, o options, start time.Time, params map[string]any) *result {
	return &result{
		Scenario:    name,
		Description: description,
		Time:        start.UTC(),
		Machine:     currentMachine(),
		Params:      params,
		Runs:        o.runs,
	}
}

// finish fills in what every result has: the medians, completeness, the
// goal that all requests completed, and the wall time. The scenario's own
// goals, read from the medians, come after it.
func (r *result) finish(order []string, runs map[string][]figures, start time.Time) {
	r.Systems = summarize(order, runs)
	all := completeGoal(runs)
	r.Complete = all.Met
	r.Goals = append(r.Goals, all)
	r.WallSeconds = time.Since(start).Seconds()
}

package deployments

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// composeFile is the top-level compose file, the one file outside this
// directory that belongs to the deployment.
const composeFile = "../docker-compose.yml"

// configFiles are every YAML and JSON file of the deployment, by path
// relative to this directory.
func configFiles(t *testing.T) []string {
	t.Helper()
	files := []string{composeFile}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk deployments: %v", err)
	}
	return files
}

// yamlDocs decodes every document of a (multi-document) YAML file.
// yaml.v3 rejects duplicate keys, a classic of hand-edited manifests.
func yamlDocs(t *testing.T, path string) []*yaml.Node {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		docs = append(docs, &n)
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML document", path)
	}
	return docs
}

func decodeNode(t *testing.T, path string, n *yaml.Node, v any) {
	t.Helper()
	if err := n.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestConfigFilesParse(t *testing.T) {
	files := configFiles(t)
	for _, want := range []string{composeFile, "kubernetes/kustomization.yaml", "nats/consumer.json",
		"grafana/slbdrain.json", "prometheus/alerts.yaml"} {
		if !slices.Contains(files, filepath.FromSlash(want)) {
			t.Errorf("%s is missing", want)
		}
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			if filepath.Ext(f) == ".json" {
				var v any
				readJSON(t, f, &v)
				return
			}
			for i, d := range yamlDocs(t, f) {
				var v any
				decodeNode(t, f, d, &v)
				if _, ok := v.(map[string]any); !ok {
					t.Errorf("document %d is a %T, want a mapping", i+1, v)
				}
			}
		})
	}
}

// flagInfo is one drainworker flag as its -h output shows it.
type flagInfo struct {
	name string // without the dash
	typ  string // the flag package's type word: duration, int, float, string; empty for bool
}

var (
	flagLine = regexp.MustCompile(`^\s+-([a-z0-9-]+)(?:\s+(\S+))?$`)
	envMark  = regexp.MustCompile(`\(env (DRAIN_[A-Z0-9_]+)\)`)
	envToken = regexp.MustCompile(`\bDRAIN_[A-Z0-9_]*[A-Z0-9]\b`)
)

// parseFlagHelp reads the flag package's usage output: a "  -name type"
// line, then indented usage lines, one of which names the variable.
func parseFlagHelp(help string) map[string]flagInfo {
	flags := map[string]flagInfo{}
	var cur *flagInfo
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		if m := flagLine.FindStringSubmatch(line); m != nil && !strings.Contains(line, "\t") {
			cur = &flagInfo{name: m[1], typ: m[2]}
			continue
		}
		if m := envMark.FindStringSubmatch(line); m != nil && cur != nil {
			flags[m[1]] = *cur
		}
	}
	return flags
}

// drainworkerFlags runs `go run ../cmd/drainworker -h` and returns its
// flags by environment variable.
func drainworkerFlags(t *testing.T) map[string]flagInfo {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot ask drainworker for its flags")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a cold build on a slow machine
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, "run", "../cmd/drainworker", "-h")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go run ../cmd/drainworker -h: %v\n%s", err, out.String())
	}
	flags := parseFlagHelp(out.String())
	if len(flags) < 10 {
		t.Fatalf("found %d flags with an (env DRAIN_...) mark in drainworker -h:\n%s", len(flags), out.String())
	}
	return flags
}

func TestParseFlagHelp(t *testing.T) {
	help := "Usage of drainworker:\n" +
		"  -ack-wait duration\n    \tJetStream AckWait (env DRAIN_ACK_WAIT) (default 30s)\n" +
		"  -slb-qps float\n    \tceiling (env DRAIN_SLB_QPS) (default 20)\n" +
		"  -verbose\n    \tmore output (env DRAIN_VERBOSE)\n" +
		"  -no-env string\n    \tnot from the environment\n"
	got := parseFlagHelp(help)
	want := map[string]flagInfo{
		"DRAIN_ACK_WAIT": {"ack-wait", "duration"},
		"DRAIN_SLB_QPS":  {"slb-qps", "float"},
		"DRAIN_VERBOSE":  {"verbose", ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseFlagHelp = %v, want %v", got, want)
	}
}

// checkFlagValue tells whether v is a valid value of a flag of type typ.
func checkFlagValue(typ, v string) error {
	var err error
	switch typ {
	case "duration":
		_, err = time.ParseDuration(v)
	case "int":
		_, err = strconv.Atoi(v)
	case "float":
		_, err = strconv.ParseFloat(v, 64)
	case "":
		_, err = strconv.ParseBool(v)
	}
	return err
}

// setting is a DRAIN_* variable a deployment file sets.
type setting struct {
	where, name, value string
	hasValue           bool // false for a value from elsewhere (valueFrom)
}

func (s setting) String() string { return s.where + ": " + s.name + "=" + s.value }

// drainSettings collects the DRAIN_* variables the compose file, the
// Kubernetes ConfigMaps and Deployments and the Dockerfile set.
func drainSettings(t *testing.T) []setting {
	t.Helper()
	var out []setting
	add := func(where, name, value string, hasValue bool) {
		if strings.HasPrefix(name, "DRAIN_") {
			out = append(out, setting{where, name, value, hasValue})
		}
	}
	for name, svc := range compose(t).Services {
		for k, v := range svc.Environment {
			add(composeFile+" services."+name, k, v, true)
		}
	}
	for _, obj := range kubeObjects(t) {
		where := obj.file + " " + obj.Kind + "/" + obj.Metadata.Name
		switch obj.Kind {
		case "ConfigMap":
			var cm configMap
			decodeNode(t, obj.file, obj.node, &cm)
			for k, v := range cm.Data {
				add(where, k, v, true)
			}
		case "Deployment":
			var d deployment
			decodeNode(t, obj.file, obj.node, &d)
			for _, c := range d.Spec.Template.Spec.Containers {
				for _, e := range c.Env {
					add(where, e.Name, e.Value, e.ValueFrom == nil)
				}
			}
		}
	}
	for _, kv := range dockerfile(t).env {
		k, v, _ := strings.Cut(kv, "=")
		add("Dockerfile ENV", k, v, true)
	}
	if len(out) == 0 {
		t.Fatal("no DRAIN_* setting found: the collection is broken")
	}
	return out
}

// TestDrainVariablesAreFlags checks that every DRAIN_* variable the
// deployment sets is a drainworker flag and that its value parses as the
// flag's type, and that every DRAIN_* name the files mention exists.
func TestDrainVariablesAreFlags(t *testing.T) {
	flags := drainworkerFlags(t)
	for _, s := range drainSettings(t) {
		f, ok := flags[s.name]
		if !ok {
			t.Errorf("%s: drainworker has no flag read from %s", s.where, s.name)
			continue
		}
		if !s.hasValue {
			continue
		}
		if err := checkFlagValue(f.typ, s.value); err != nil {
			t.Errorf("%s: %q is not a valid %s for --%s: %v", s.where, s.value, f.typ, f.name, err)
		}
	}
	// Mentions in comments and the README: a renamed flag must not leave
	// documentation pointing at a variable that does nothing.
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") {
			return err
		}
		return checkMentions(t, path, flags)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkMentions(t, composeFile, flags); err != nil {
		t.Fatal(err)
	}
}

func checkMentions(t *testing.T, path string, flags map[string]flagInfo) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for i, line := range strings.Split(string(data), "\n") {
		for _, name := range envToken.FindAllString(line, -1) {
			if _, ok := flags[name]; !ok {
				t.Errorf("%s:%d mentions %s, which is no drainworker flag's variable", path, i+1, name)
			}
		}
	}
	return nil
}

// composeProject is the part of the compose file the tests read.
type composeProject struct {
	Services map[string]struct {
		Image       string         `yaml:"image"`
		Build       *composeBuild  `yaml:"build"`
		Command     []string       `yaml:"command"`
		Environment composeEnv     `yaml:"environment"`
		Ports       []string       `yaml:"ports"`
		DependsOn   map[string]any `yaml:"depends_on"`
		Healthcheck *composeHealth `yaml:"healthcheck"`
		StopGrace   string         `yaml:"stop_grace_period"`
		ReadOnly    bool           `yaml:"read_only"`
	} `yaml:"services"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeHealth struct {
	Test []string `yaml:"test"`
}

// composeEnv is a service's environment, written as a mapping or as a list
// of NAME=value.
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			(*e)[k] = fmt.Sprint(v)
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment is neither a mapping nor a list", n.Line)
	}
	return nil
}

func compose(t *testing.T) composeProject {
	t.Helper()
	var p composeProject
	decodeNode(t, composeFile, yamlDocs(t, composeFile)[0], &p)
	return p
}

// dockerfileInfo is what the tests read from the Dockerfile.
type dockerfileInfo struct {
	from     []string // images of the FROM lines
	env      []string // NAME=value of the ENV lines
	binaries []string // what the go build line builds, by package directory
	text     string
}

func dockerfile(t *testing.T) dockerfileInfo {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	info := dockerfileInfo{text: string(data)}
	// Join continuation lines into instructions.
	var instrs []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		if s := strings.TrimSpace(cur.String()); s != "" {
			instrs = append(instrs, s)
		}
		cur.Reset()
	}
	for _, in := range instrs {
		f := strings.Fields(in)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			for _, w := range f[1:] {
				if !strings.HasPrefix(w, "--") {
					info.from = append(info.from, w)
					break
				}
			}
		case "ENV":
			info.env = append(info.env, f[1:]...)
		case "RUN":
			if i := slices.Index(f, "build"); i > 0 && f[i-1] == "go" {
				for _, w := range f[i+1:] {
					if strings.HasPrefix(w, "./") {
						info.binaries = append(info.binaries, w)
					}
				}
			}
		}
	}
	return info
}

func TestDockerfile(t *testing.T) {
	d := dockerfile(t)
	if len(d.from) != 2 || !strings.HasPrefix(d.from[0], "golang:1.26") ||
		!strings.HasPrefix(d.from[1], "gcr.io/distroless/static") || !strings.HasSuffix(d.from[1], ":nonroot") {
		t.Errorf("FROM %v, want a golang:1.26 builder and a distroless static nonroot image", d.from)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags='-s -w'", "USER 65532", "EXPOSE 9090", `VOLUME ["/data"]`} {
		if !strings.Contains(d.text, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	for _, want := range []string{"./cmd/drainworker", "./cmd/drainctl", "./cmd/slbsim", "./deployments/healthprobe"} {
		if !slices.Contains(d.binaries, want) {
			t.Errorf("the go build line builds %v, not %s", d.binaries, want)
		}
	}
	// The build runs from the repository root: every package must be there.
	for _, pkg := range d.binaries {
		if m, _ := filepath.Glob(filepath.Join("..", pkg, "*.go")); len(m) == 0 {
			t.Errorf("Dockerfile builds %s, which has no Go files", pkg)
		}
	}
}

// TestCompose checks the compose file's wiring: who talks to whom on which
// port, with which keys, and that its health checks can run in the image.
func TestCompose(t *testing.T) {
	p := compose(t)
	binaries := map[string]bool{}
	for _, pkg := range dockerfile(t).binaries {
		binaries[filepath.Base(pkg)] = true
	}
	for _, name := range []string{"nats", "slbsim", "drainworker"} {
		svc, ok := p.Services[name]
		if !ok {
			t.Fatalf("service %s is missing", name)
		}
		if svc.Healthcheck == nil || len(svc.Healthcheck.Test) < 2 || svc.Healthcheck.Test[0] != "CMD" {
			t.Errorf("service %s: healthcheck %+v, want an exec-form CMD test", name, svc.Healthcheck)
		}
		if svc.Build == nil {
			continue
		}
		// Built from the distroless image: no shell, so both the command and
		// the health check must be binaries the image contains.
		if df := filepath.Join("..", svc.Build.Context, svc.Build.Dockerfile); !sameFile(df, "Dockerfile") {
			t.Errorf("service %s builds %s, want deployments/Dockerfile", name, df)
		}
		if len(svc.Command) == 0 || !binaries[svc.Command[0]] {
			t.Errorf("service %s: command %q does not start with a binary of the image %v", name, svc.Command, binaries)
		}
		if svc.Healthcheck != nil && len(svc.Healthcheck.Test) > 1 && !binaries[svc.Healthcheck.Test[1]] {
			t.Errorf("service %s: healthcheck runs %q, not a binary of the image", name, svc.Healthcheck.Test[1])
		}
	}

	nats := p.Services["nats"]
	if v, ok := strings.CutPrefix(nats.Image, "nats:"); !ok || !atLeastVersion(v, 2, 11) {
		t.Errorf("nats image %q: priority groups need nats 2.11 or later", nats.Image)
	}
	for _, arg := range []string{"-js", "-sd"} {
		if !slices.Contains(nats.Command, arg) {
			t.Errorf("nats command %q lacks %s", nats.Command, arg)
		}
	}

	sim := p.Services["slbsim"]
	if got, want := strings.Join(sim.Command, " "), "slbsim --listen 0.0.0.0:9100 --groups 5 --servers 20"; got != want {
		t.Errorf("slbsim command %q, want %q", got, want)
	}

	w := p.Services["drainworker"]
	env := w.Environment
	checkURL(t, "DRAIN_NATS_URL", env["DRAIN_NATS_URL"], "nats", "nats", "4222")
	checkURL(t, "DRAIN_SLB_ENDPOINT", env["DRAIN_SLB_ENDPOINT"], "http", "slbsim", "9100")
	if _, port, _ := net.SplitHostPort(env["DRAIN_METRICS_ADDR"]); port != "9090" || !slices.Contains(w.Ports, "9090:9090") {
		t.Errorf("DRAIN_METRICS_ADDR %q and ports %q: want metrics on 9090, published", env["DRAIN_METRICS_ADDR"], w.Ports)
	}
	for _, k := range []string{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"} {
		if env[k] == "" || env[k] != sim.Environment[k] {
			t.Errorf("%s: drainworker has %q, slbsim accepts %q", k, env[k], sim.Environment[k])
		}
	}
	if env["ALIBABA_CLOUD_ACCESS_KEY_ID"] != "slbsim-ak" || env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] != "slbsim-secret" {
		t.Errorf("the key pair is not slbsim's default (slbsim-ak, slbsim-secret)")
	}
	for _, dep := range []string{"nats", "slbsim"} {
		if _, ok := w.DependsOn[dep]; !ok {
			t.Errorf("drainworker does not depend on %s", dep)
		}
	}
	grace, err := time.ParseDuration(w.StopGrace)
	if err != nil {
		t.Fatalf("drainworker stop_grace_period %q: %v", w.StopGrace, err)
	}
	shutdown := durationSetting(t, env, "DRAIN_SHUTDOWN_TIMEOUT", 30*time.Second)
	if grace <= shutdown {
		t.Errorf("stop_grace_period %s is not longer than the worker's shutdown timeout %s", grace, shutdown)
	}
	if !w.ReadOnly {
		t.Error("drainworker's root filesystem is not read-only")
	}
}

func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// durationSetting is the duration of env[name], or def when unset.
func durationSetting(t *testing.T, env map[string]string, name string, def time.Duration) time.Duration {
	t.Helper()
	v, ok := env[name]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

func checkURL(t *testing.T, name, raw, scheme, host, port string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != scheme || u.Hostname() != host || u.Port() != port {
		t.Errorf("%s=%q, want %s://%s:%s", name, raw, scheme, host, port)
	}
}

// atLeastVersion tells whether an image tag like "2.11-alpine" or "2.12.1"
// is at least major.minor.
func atLeastVersion(tag string, major, minor int) bool {
	v, _, _ := strings.Cut(tag, "-")
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

func TestAtLeastVersion(t *testing.T) {
	for tag, want := range map[string]bool{
		"2.11-alpine": true, "2.12.1": true, "3.0": true, "2.10-alpine": false,
		"1.99": false, "latest": false, "alpine": false, "2": false,
	} {
		if got := atLeastVersion(tag, 2, 11); got != want {
			t.Errorf("atLeastVersion(%q, 2, 11) = %v, want %v", tag, got, want)
		}
	}
}

// sortedKeys is for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

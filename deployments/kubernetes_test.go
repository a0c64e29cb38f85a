package deployments

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const kubeDir = "kubernetes"

// kubeObject is one Kubernetes object of a manifest under kubernetes/.
type kubeObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`

	file string
	node *yaml.Node
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

// selects tells whether s selects objects labelled labels; an empty
// selector selects nothing here (none of ours means "everything").
func (s labelSelector) selects(labels map[string]string) bool {
	if len(s.MatchLabels) == 0 {
		return false
	}
	for k, v := range s.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

type configMap struct {
	Data map[string]string `yaml:"data"`
}

type deployment struct {
	Spec struct {
		Replicas int           `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int    `yaml:"terminationGracePeriodSeconds"`
				ServiceAccountName            string `yaml:"serviceAccountName"`
				SecurityContext               struct {
					RunAsNonRoot   bool `yaml:"runAsNonRoot"`
					SeccompProfile struct {
						Type string `yaml:"type"`
					} `yaml:"seccompProfile"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom any    `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type service struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type serviceMonitor struct {
	Spec struct {
		Selector  labelSelector `yaml:"selector"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type podDisruptionBudget struct {
	Spec struct {
		MinAvailable any           `yaml:"minAvailable"`
		Selector     labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type networkPolicy struct {
	Spec struct {
		PodSelector labelSelector `yaml:"podSelector"`
		PolicyTypes []string      `yaml:"policyTypes"`
		Ingress     []struct {
			Ports []netPort `yaml:"ports"`
		} `yaml:"ingress"`
		Egress []struct {
			Ports []netPort `yaml:"ports"`
		} `yaml:"egress"`
	} `yaml:"spec"`
}

type netPort struct {
	Port     int    `yaml:"port"`
	Protocol string `yaml:"protocol"`
}

// kubeObjects are the objects of every manifest under kubernetes/ but the
// kustomization itself, the example Secret included.
func kubeObjects(t *testing.T) []kubeObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var objs []kubeObject
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, n := range yamlDocs(t, f) {
			var o kubeObject
			decodeNode(t, f, n, &o)
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s: an object without apiVersion, kind or metadata.name", f)
			}
			o.file, o.node = f, n
			objs = append(objs, o)
		}
	}
	return objs
}

// kubeObjectOf decodes the objects of one kind; exactly one is expected.
func kubeObjectOf[T any](t *testing.T, objs []kubeObject, kind string) (T, kubeObject) {
	t.Helper()
	var v T
	var found []kubeObject
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(found), kind)
	}
	decodeNode(t, found[0].file, found[0].node, &v)
	return v, found[0]
}

func TestKustomization(t *testing.T) {
	var k struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
		Images    []struct {
			Name string `yaml:"name"`
		} `yaml:"images"`
	}
	images := map[string]bool{}
	path := filepath.Join(kubeDir, "kustomization.yaml")
	decodeNode(t, path, yamlDocs(t, path)[0], &k)
	if k.Namespace == "" {
		t.Error("kustomization sets no namespace")
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(kubeDir, r)); err != nil {
			t.Errorf("resource %s: %v", r, err)
		}
	}
	// Every manifest is applied, but the example Secret: applying
	// placeholders would overwrite the real credentials.
	files, _ := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		listed := slices.Contains(k.Resources, base)
		switch {
		case base == "kustomization.yaml":
		case strings.HasSuffix(base, ".example.yaml") && listed:
			t.Errorf("%s is an example and must not be applied", base)
		case !strings.HasSuffix(base, ".example.yaml") && !listed:
			t.Errorf("%s is not in the kustomization's resources", base)
		}
	}
	for _, i := range k.Images {
		images[i.Name] = true
	}
	d, _ := kubeObjectOf[deployment](t, kubeObjects(t), "Deployment")
	for _, c := range d.Spec.Template.Spec.Containers {
		if !images[c.Image] {
			t.Errorf("container %s's image %q is not set by the kustomization's images", c.Name, c.Image)
		}
	}

	// kubectl builds the base offline; where it is installed, let it judge.
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not on PATH: kustomize build not checked")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, "kustomize", kubeDir)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", kubeDir, err, stderr.String())
	}
	if !strings.Contains(out.String(), "namespace: "+k.Namespace) || !strings.Contains(out.String(), "kind: Deployment") {
		t.Errorf("kubectl kustomize output lacks the namespaced Deployment:\n%s", out.String())
	}
}

// TestKubernetesWorker checks the Deployment against the brief and the
// objects that must select its pods or match its settings.
func TestKubernetesWorker(t *testing.T) {
	objs := kubeObjects(t)
	d, _ := kubeObjectOf[deployment](t, objs, "Deployment")
	cm, cmObj := kubeObjectOf[configMap](t, objs, "ConfigMap")
	_, secretObj := kubeObjectOf[struct{}](t, objs, "Secret")
	_, saObj := kubeObjectOf[struct{}](t, objs, "ServiceAccount")

	spec := d.Spec.Template.Spec
	podLabels := d.Spec.Template.Metadata.Labels
	if !d.Spec.Selector.selects(podLabels) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, podLabels)
	}
	if d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2 (one active, one hot standby)", d.Spec.Replicas)
	}
	if spec.ServiceAccountName != saObj.Metadata.Name {
		t.Errorf("serviceAccountName %q, want %q", spec.ServiceAccountName, saObj.Metadata.Name)
	}
	if !spec.SecurityContext.RunAsNonRoot || spec.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod securityContext %+v, want runAsNonRoot and seccomp RuntimeDefault", spec.SecurityContext)
	}
	shutdown := durationSetting(t, cm.Data, "DRAIN_SHUTDOWN_TIMEOUT", 30*time.Second)
	if grace := time.Duration(spec.TerminationGracePeriodSeconds) * time.Second; grace <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %s is not longer than DRAIN_SHUTDOWN_TIMEOUT %s", grace, shutdown)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if len(c.Command) == 0 || c.Command[0] != "drainworker" {
		t.Errorf("command %q, want drainworker", c.Command)
	}
	var cmRef, secretRef bool
	for _, ef := range c.EnvFrom {
		cmRef = cmRef || ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == cmObj.Metadata.Name
		secretRef = secretRef || ef.SecretRef != nil && ef.SecretRef.Name == secretObj.Metadata.Name
	}
	if !cmRef || !secretRef {
		t.Errorf("envFrom does not read ConfigMap %s (%v) and Secret %s (%v)", cmObj.Metadata.Name, cmRef, secretObj.Metadata.Name, secretRef)
	}

	// Probes on the metrics port, which must be the one DRAIN_METRICS_ADDR listens on.
	metricsPort := 0
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	if _, port, _ := net.SplitHostPort(cm.Data["DRAIN_METRICS_ADDR"]); metricsPort != 9090 || port != "9090" {
		t.Errorf("container port metrics %d and DRAIN_METRICS_ADDR %q, want both 9090", metricsPort, cm.Data["DRAIN_METRICS_ADDR"])
	}
	for _, p := range []struct {
		name string
		p    *probe
		path string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.p == nil || p.p.HTTPGet == nil {
			t.Errorf("no %s httpGet probe", p.name)
			continue
		}
		if p.p.HTTPGet.Path != p.path || (p.p.HTTPGet.Port != "metrics" && p.p.HTTPGet.Port != metricsPort) {
			t.Errorf("%s probe %s on port %v, want %s on the metrics port", p.name, p.p.HTTPGet.Path, p.p.HTTPGet.Port, p.path)
		}
	}
	if c.Resources.Limits["memory"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Requests["cpu"] == "" {
		t.Errorf("resources %+v, want memory and cpu requests and a memory limit", c.Resources)
	}
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !sc.ReadOnlyRootFilesystem ||
		!slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container securityContext %+v, want no privilege escalation, read-only root, drop ALL", sc)
	}

	svc, _ := kubeObjectOf[service](t, objs, "Service")
	if !(labelSelector{MatchLabels: svc.Spec.Selector}).selects(podLabels) {
		t.Errorf("the Service's selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
	}
	var svcPort string
	for _, p := range svc.Spec.Ports {
		if p.TargetPort == "metrics" || p.TargetPort == metricsPort {
			svcPort = p.Name
		}
	}
	if svcPort == "" {
		t.Errorf("the Service has no port to the pods' metrics port")
	}

	sm, smObj := kubeObjectOf[serviceMonitor](t, objs, "ServiceMonitor")
	if smObj.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %s", smObj.APIVersion)
	}
	_, svcObj := kubeObjectOf[struct{}](t, objs, "Service")
	if !sm.Spec.Selector.selects(svcObj.Metadata.Labels) {
		t.Errorf("the ServiceMonitor's selector %v does not select the Service %v", sm.Spec.Selector.MatchLabels, svcObj.Metadata.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svcPort || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want /metrics on the Service's port %q", sm.Spec.Endpoints, svcPort)
	}

	pdb, _ := kubeObjectOf[podDisruptionBudget](t, objs, "PodDisruptionBudget")
	if !pdb.Spec.Selector.selects(podLabels) || pdb.Spec.MinAvailable != 1 {
		t.Errorf("PodDisruptionBudget %+v, want minAvailable 1 over the pods", pdb.Spec)
	}

	np, _ := kubeObjectOf[networkPolicy](t, objs, "NetworkPolicy")
	if !np.Spec.PodSelector.selects(podLabels) {
		t.Errorf("the NetworkPolicy does not select the pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, "Ingress") || !slices.Contains(np.Spec.PolicyTypes, "Egress") {
		t.Errorf("policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	var ingress, egress []int
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			ingress = append(ingress, p.Port)
		}
	}
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			egress = append(egress, p.Port)
		}
	}
	if !slices.Equal(ingress, []int{metricsPort}) {
		t.Errorf("ingress ports %v, want only the metrics port %d", ingress, metricsPort)
	}
	checkURL(t, "DRAIN_NATS_URL", cm.Data["DRAIN_NATS_URL"], "nats", "nats.nats.svc", "4222")
	for _, want := range []int{4222, 443, 53} {
		if !slices.Contains(egress, want) {
			t.Errorf("egress ports %v lack %d", egress, want)
		}
	}
}

// TestConfigMapMatchesNATSDefinitions: the worker overrides the embedded
// definitions with its settings, so the ConfigMap must say the same as the
// files operators apply with the nats CLI.
func TestConfigMapMatchesNATSDefinitions(t *testing.T) {
	cm, _ := kubeObjectOf[configMap](t, kubeObjects(t), "ConfigMap")
	env := cm.Data
	cc, err := Consumer()
	if err != nil {
		t.Fatal(err)
	}
	req, err := RequestStream()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := EventStream()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"DRAIN_CONSUMER", env["DRAIN_CONSUMER"], cc.Durable},
		{"DRAIN_FILTER_SUBJECT", env["DRAIN_FILTER_SUBJECT"], cc.FilterSubject},
		{"DRAIN_PRIORITY_GROUP", env["DRAIN_PRIORITY_GROUP"], strings.Join(cc.PriorityGroups, ",")},
		{"DRAIN_MAX_ACK_PENDING", env["DRAIN_MAX_ACK_PENDING"], strconv.Itoa(cc.MaxAckPending)},
		{"DRAIN_STREAM_REPLICAS", env["DRAIN_STREAM_REPLICAS"], strconv.Itoa(req.Replicas)},
		{"DRAIN_STREAM_REPLICAS (events)", env["DRAIN_STREAM_REPLICAS"], strconv.Itoa(ev.Replicas)},
	} {
		if c.got != c.want {
			t.Errorf("%s=%q, the nats definitions say %q", c.name, c.got, c.want)
		}
	}
	for _, c := range []struct {
		name string
		want time.Duration
	}{
		{"DRAIN_PINNED_TTL", cc.PinnedTTL},
		{"DRAIN_ACK_WAIT", cc.AckWait},
		{"DRAIN_EVENT_MAX_AGE", ev.MaxAge},
	} {
		if got := durationSetting(t, env, c.name, -1); got != c.want {
			t.Errorf("%s=%s, the nats definitions say %s", c.name, got, c.want)
		}
	}
}

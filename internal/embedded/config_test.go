package embedded

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

func TestSplitListen(t *testing.T) {
	tests := []struct {
		in      string
		host    string
		port    int
		wantErr string
	}{
		{in: "127.0.0.1:4222", host: "127.0.0.1", port: 4222},
		{in: "127.0.0.1:0", host: "127.0.0.1", port: server.RANDOM_PORT},
		{in: "127.0.0.1:-1", host: "127.0.0.1", port: server.RANDOM_PORT},
		{in: ":4333", host: "", port: 4333},
		{in: "[::1]:4222", host: "::1", port: 4222},
		{in: "127.0.0.1", wantErr: "missing port"},
		{in: "127.0.0.1:http", wantErr: "not a number"},
		{in: "127.0.0.1:65536", wantErr: "out of range"},
		{in: "127.0.0.1:-2", wantErr: "out of range"},
	}
	for _, tt := range tests {
		host, port, err := splitListen(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("splitListen(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || host != tt.host || port != tt.port {
			t.Errorf("splitListen(%q) = %q, %d, %v; want %q, %d", tt.in, host, port, err, tt.host, tt.port)
		}
	}
}

func TestOptions(t *testing.T) {
	cfg := Config{
		DataDir:            "/var/lib/drain",
		ServerName:         "n1",
		JetStreamMaxMemory: 1 << 20,
		JetStreamMaxStore:  1 << 30,
		Cluster: &ClusterConfig{
			Name:   "c",
			Listen: "127.0.0.1:6222",
			Routes: []string{"nats-route://127.0.0.1:6223", "nats-route://127.0.0.1:6224"},
		},
	}
	o, err := cfg.options()
	if err != nil {
		t.Fatal(err)
	}
	if o.Host != "127.0.0.1" || o.Port != 4222 {
		t.Errorf("empty Listen gave %s:%d, want DefaultListen %s", o.Host, o.Port, DefaultListen)
	}
	if !o.JetStream || o.StoreDir != "/var/lib/drain" || !o.NoSigs || o.ServerName != "n1" {
		t.Errorf("options = JetStream %v, StoreDir %q, NoSigs %v, ServerName %q", o.JetStream, o.StoreDir, o.NoSigs, o.ServerName)
	}
	if o.JetStreamMaxMemory != 1<<20 || o.JetStreamMaxStore != 1<<30 {
		t.Errorf("limits = %d, %d", o.JetStreamMaxMemory, o.JetStreamMaxStore)
	}
	if o.Cluster.Name != "c" || o.Cluster.Host != "127.0.0.1" || o.Cluster.Port != 6222 {
		t.Errorf("cluster = %+v", o.Cluster)
	}
	if len(o.Routes) != 2 || o.Routes[1].Host != "127.0.0.1:6224" || o.Routes[1].Scheme != "nats-route" {
		t.Errorf("routes = %v", o.Routes)
	}
}

func TestOptionsErrors(t *testing.T) {
	cluster := func(c ClusterConfig) *ClusterConfig { return &c }
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no data dir", Config{Listen: "127.0.0.1:0"}, "data dir is required"},
		{"bad listen", Config{Listen: "localhost", DataDir: "d"}, `client listen address "localhost"`},
		{"no cluster name", Config{DataDir: "d", Cluster: cluster(ClusterConfig{Listen: "127.0.0.1:0"})}, "cluster name is required"},
		{"bad cluster listen", Config{DataDir: "d", Cluster: cluster(ClusterConfig{Name: "c", Listen: "x"})}, `cluster listen address "x"`},
		{"route not a URL", Config{DataDir: "d", Cluster: cluster(ClusterConfig{Name: "c", Listen: "127.0.0.1:0", Routes: []string{"127.0.0.1:6222"}})}, `route "127.0.0.1:6222"`},
		{"route bad URL", Config{DataDir: "d", Cluster: cluster(ClusterConfig{Name: "c", Listen: "127.0.0.1:0", Routes: []string{"nats-route://%zz"}})}, `route "nats-route://%zz"`},
	}
	for _, tt := range tests {
		_, err := tt.cfg.options()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestClientURL(t *testing.T) {
	tests := map[string]string{
		"nats://127.0.0.1:4222": "nats://127.0.0.1:4222",
		"nats://0.0.0.0:4222":   "nats://127.0.0.1:4222",
		"nats://:4222":          "nats://127.0.0.1:4222",
		"nats://[::]:4222":      "nats://[::1]:4222",
		"nats://10.1.2.3:4222":  "nats://10.1.2.3:4222",
	}
	for in, want := range tests {
		if got := clientURL(in); got != want {
			t.Errorf("clientURL(%q) = %q, want %q", in, got, want)
		}
	}
}

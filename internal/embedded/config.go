package embedded

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// DefaultListen is the client address used when Config.Listen is empty; it
// matches drainworker's --embedded-listen default.
const DefaultListen = "127.0.0.1:4222"

// Config describes one embedded JetStream server.
type Config struct {
	// Listen is the client listen address, host:port. Port 0 or -1 picks a
	// free port (read it back with Server.ClientURL). Empty means DefaultListen.
	Listen string
	// DataDir is the JetStream store directory. Required: an embedded server
	// exists to keep drain requests across restarts, so a silent temporary
	// store would lose them.
	DataDir string
	// ServerName names the server in logs and in the JetStream cluster
	// (required by nats-server for a cluster node, unique per node).
	ServerName string
	// Cluster makes the server a node of a JetStream cluster; nil for a
	// single node.
	Cluster *ClusterConfig
	// Logger receives the server's logs; nil discards them.
	Logger *zap.Logger
	// JetStreamMaxMemory and JetStreamMaxStore cap the JetStream memory and
	// file storage in bytes; 0 keeps the server defaults.
	JetStreamMaxMemory, JetStreamMaxStore int64
}

// ClusterConfig is the route (server to server) side of a cluster node.
type ClusterConfig struct {
	// Name is the cluster name, the same on every node.
	Name string
	// Listen is the route listen address, host:port (port 0 or -1: random).
	Listen string
	// Routes are the other nodes' route URLs, e.g. nats-route://127.0.0.1:6222.
	Routes []string
}

// options translates cfg into nats-server options. It validates what the
// server would otherwise accept silently (a bad route URL is dropped by
// server.RoutesFromStr, port 0 would mean 4222).
func (cfg Config) options() (*server.Options, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("embedded: data dir is required")
	}
	listen := cfg.listen()
	host, port, err := splitListen(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded: client listen address %q: %w", listen, err)
	}
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           cfg.DataDir,
		JetStreamMaxMemory: cfg.JetStreamMaxMemory,
		JetStreamMaxStore:  cfg.JetStreamMaxStore,
		// The embedding process owns signal handling (drainworker drains
		// in-flight work on SIGTERM before shutting the server down).
		NoSigs: true,
	}
	if c := cfg.Cluster; c != nil {
		if c.Name == "" {
			return nil, errors.New("embedded: cluster name is required")
		}
		chost, cport, err := splitListen(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded: cluster listen address %q: %w", c.Listen, err)
		}
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: chost, Port: cport}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("embedded: route %q: %w", r, err)
			}
			if u.Host == "" {
				return nil, fmt.Errorf("embedded: route %q: want a URL like nats-route://host:port", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	return opts, nil
}

func (cfg Config) listen() string {
	if cfg.Listen == "" {
		return DefaultListen
	}
	return cfg.Listen
}

// splitListen parses host:port. Ports 0 and -1 both mean "pick one": the
// server reads 0 as its default port 4222, so 0 becomes server.RANDOM_PORT.
func splitListen(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", p)
	}
	switch {
	case port == 0 || port == server.RANDOM_PORT:
		port = server.RANDOM_PORT
	case port < 0 || port > 65535:
		return "", 0, fmt.Errorf("port %d out of range", port)
	}
	return host, port, nil
}

// clientURL turns the server's URL into one a local client can dial: a
// wildcard listen host (":4222", "0.0.0.0") is reached over loopback.
func clientURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	host, port := u.Hostname(), u.Port()
	switch {
	case host == "" || host == "0.0.0.0":
		host = "127.0.0.1"
	case strings.Contains(host, ":") && net.ParseIP(host).IsUnspecified():
		host = "::1"
	}
	u.Host = net.JoinHostPort(host, port)
	return u.String()
}

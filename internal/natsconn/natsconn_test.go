package natsconn

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func TestRedactHidesPasswordsAndTokens(t *testing.T) {
	for in, secret := range map[string]string{
		"nats://alice:s3cret@127.0.0.1:4222":              "s3cret",
		"alice:s3cret@127.0.0.1:4222":                     "s3cret", // no scheme, as nats.go accepts
		"nats://a:1@h1:4222, tls://tok3n@h2:4222":         "tok3n",
		"nats://127.0.0.1:4222,nats://bob:hunter2@h:4222": "hunter2",
		"nats://alice:s3%cret@127.0.0.1:4222":             "s3", // url.Parse refuses the escape
		"nats://alice:12#s3cret@127.0.0.1:4222":           "s3cret",
		"nats://alice:pa/s3cret@127.0.0.1:4222":           "s3cret",
	} {
		if got := Redact(in); strings.Contains(got, secret) {
			t.Errorf("Redact(%q) = %q, still shows %q", in, got, secret)
		}
	}
}

func TestRedactKeepsWhatIsNotSecret(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                   "nats://127.0.0.1:4222",
		"tls://h1:4222, h2:4222":                  "tls://h1:4222,nats://h2:4222",
		"nats://alice:s3cret@h:4222":              "nats://alice:xxxxx@h:4222",
		"tls://tok3n@h:4222":                      "tls://xxxxx@h:4222",
		"nats://alice:s3%cret@h:4222,nats://h2:1": "nats://xxxxx@h:4222,nats://h2:1",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// The flags and variables are the contract's, and each sets its own field.
func TestAuthFlags(t *testing.T) {
	var c Config
	want := map[string]struct {
		env   string
		field *string
	}{
		"nats-creds": {"DRAIN_NATS_CREDS", &c.CredsFile},
		"tls-ca":     {"DRAIN_TLS_CA", &c.TLSCA},
		"tls-cert":   {"DRAIN_TLS_CERT", &c.TLSCert},
		"tls-key":    {"DRAIN_TLS_KEY", &c.TLSKey},
	}
	flags := c.AuthFlags()
	if len(flags) != len(want) {
		t.Errorf("%d flags, want %d", len(flags), len(want))
	}
	for _, f := range flags {
		w, ok := want[f.Name]
		switch {
		case !ok:
			t.Errorf("unexpected flag --%s", f.Name)
		case f.Env != w.env:
			t.Errorf("--%s reads %s, want %s", f.Name, f.Env, w.env)
		case f.Value != w.field:
			t.Errorf("--%s sets another field", f.Name)
		case f.Usage == "":
			t.Errorf("--%s has no help text", f.Name)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // in the error; empty: valid
	}{
		{Config{}, ""},
		{Config{TLSCA: "ca.pem"}, ""},
		{Config{TLSCert: "c.pem", TLSKey: "k.pem"}, ""},
		{Config{TLSCert: "c.pem"}, "--tls-key"},
		{Config{TLSKey: "k.pem"}, "--tls-cert"},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
}

// startServer runs a NATS server on a loopback port with opts until the
// test ends and returns its client URL.
func startServer(t *testing.T, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	return s.ClientURL()
}

// roundTrip proves nc usable: the server answers a flush.
func roundTrip(t *testing.T, nc *nats.Conn) {
	t.Helper()
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func TestConnectReconnectsWithoutLimitAndOptionsWin(t *testing.T) {
	url := startServer(t, &server.Options{})
	nc, err := Config{URL: url}.Connect("tester", nats.ReconnectWait(123*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	roundTrip(t, nc)
	if nc.Opts.Name != "tester" || nc.Opts.MaxReconnect != -1 || nc.Opts.ReconnectWait != 123*time.Millisecond {
		t.Errorf("name %q, max reconnects %d, reconnect wait %s; want tester, -1, 123ms",
			nc.Opts.Name, nc.Opts.MaxReconnect, nc.Opts.ReconnectWait)
	}
}

func TestConnectNeverShowsThePassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, url := range []string{
		"nats://alice:s3cret@" + closed,
		"alice:s3cret@" + closed,
		"nats://alice:s3%cret@" + closed, // nats.go's own error would quote it
		"nats://" + closed + ",nats://bob:s3cret@" + closed,
	} {
		_, err := Config{URL: url}.Connect("tester", nats.Timeout(time.Second))
		if err == nil {
			t.Fatalf("%s: connected to a closed port", url)
		}
		if strings.Contains(err.Error(), "s3") {
			t.Errorf("%s: error shows the password: %v", url, err)
		}
	}
}

func TestConnectWithoutURL(t *testing.T) {
	// nats.go would dial its default URL instead.
	if _, err := (Config{URL: " "}).Connect("tester"); err == nil {
		t.Fatal("connected without a URL")
	}
}

func TestConnectRefusesACertificateWithoutItsKey(t *testing.T) {
	url := startServer(t, &server.Options{})
	if nc, err := (Config{URL: url, TLSCert: "client.pem"}).Connect("tester"); err == nil {
		nc.Close()
		t.Fatal("connected with a client certificate and no key")
	}
}

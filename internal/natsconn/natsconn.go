// Package natsconn connects slbdrain's binaries to NATS in one way: the same
// flags and environment variables for credentials and TLS, reconnects
// without limit, and server URLs that are safe to show.
package natsconn

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
)

// Config says where NATS is and how to authenticate to it.
type Config struct {
	// URL is one server URL or several, comma separated, as nats.Connect
	// takes them. It may carry a user and password or a token: show it
	// only through Redact.
	URL string
	// CredsFile is a credentials file (user JWT and NKey seed); empty: none.
	CredsFile string
	// TLSCA is a PEM file of the CAs that verify the server's certificate;
	// setting it makes the connection use TLS whatever the URL's scheme.
	TLSCA string
	// TLSCert and TLSKey are a PEM client certificate and its key, for
	// servers that verify clients; both or neither.
	TLSCert, TLSKey string
}

// Flag is one setting of Config as both binaries spell it: the flag, its
// environment variable and its help text.
type Flag struct {
	Name  string  // flag name without dashes
	Env   string  // environment variable read when the flag is not given
	Usage string  // help text, without the variable's name
	Value *string // the field of the Config it sets
}

// AuthFlags returns the credentials and TLS settings of c as flags, each
// pointing at its field of c. The URL is not among them: its default and
// meaning differ between the binaries (drainworker without a URL starts an
// embedded server).
func (c *Config) AuthFlags() []Flag {
	return []Flag{
		{Name: "nats-creds", Env: "DRAIN_NATS_CREDS", Usage: "NATS credentials file (JWT + NKey)", Value: &c.CredsFile},
		{Name: "tls-ca", Env: "DRAIN_TLS_CA", Usage: "CA certificate file for tls:// NATS URLs", Value: &c.TLSCA},
		{Name: "tls-cert", Env: "DRAIN_TLS_CERT", Usage: "client certificate file for NATS TLS", Value: &c.TLSCert},
		{Name: "tls-key", Env: "DRAIN_TLS_KEY", Usage: "client key file for NATS TLS", Value: &c.TLSKey},
	}
}

// Validate reports settings that cannot work together, before any dial: a
// client certificate without its key, or a key without its certificate.
// It does not read the files; Connect does.
func (c Config) Validate() error {
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		return fmt.Errorf("NATS TLS client certificate %s has no key: set --tls-key (DRAIN_TLS_KEY) too", c.TLSCert)
	case c.TLSKey != "" && c.TLSCert == "":
		return fmt.Errorf("NATS TLS client key %s has no certificate: set --tls-cert (DRAIN_TLS_CERT) too", c.TLSKey)
	}
	return nil
}

// errNoURL is Connect's answer to an empty URL, which nats.go would
// silently replace with its own default.
var errNoURL = errors.New("no NATS server URL")

// Connect dials c.URL as the client called name, with c's credentials and
// TLS. Once connected, the client reconnects without limit: both binaries
// bound their work with contexts, and a node failover must not end it.
// Handlers are not called after Close, so a deliberate close is not
// reported as a disconnect. opts are applied after these, so they win
// (reconnect wait, dial timeout, handlers).
//
// The error names the server by its redacted URL.
func (c Config) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	if strings.TrimSpace(c.URL) == "" {
		return nil, errNoURL
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := checkURLs(c.URL); err != nil {
		return nil, err
	}
	all := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.NoCallbacksAfterClientClose(),
	}
	if c.CredsFile != "" {
		all = append(all, nats.UserCredentials(c.CredsFile))
	}
	if c.TLSCA != "" {
		all = append(all, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		all = append(all, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	nc, err := nats.Connect(c.URL, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", Redact(c.URL), err)
	}
	return nc, nil
}

// checkURLs parses each URL of list as nats.go will, so that a bad one
// is reported redacted: nats.go's error would quote it whole, password
// included.
func checkURLs(list string) error {
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue // nats.go skips it too
		}
		p = withScheme(p)
		if _, err := url.Parse(p); err != nil {
			return fmt.Errorf("NATS server URL %s is not a valid URL", Redact(p))
		}
	}
	return nil
}

// Redact returns a comma separated URL list with every password hidden,
// and every user part without a password too: nats.go takes a lone user
// part for a token.
func Redact(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		p = withScheme(strings.TrimSpace(p))
		u, err := url.Parse(p)
		switch {
		case err != nil, u.User == nil && strings.Contains(p, "@"):
			// What url.Parse refused, or read without a user part
			// ("nats://u:12#pw@h" has a fragment), may still hold one.
			p = redactUnparsed(p)
		case u.User == nil:
		case hasPassword(u.User):
			p = u.Redacted()
		default:
			u.User = url.User("xxxxx")
			p = u.String()
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// withScheme gives a URL without a scheme nats.go's: else url.Parse takes
// its user part for a scheme.
func withScheme(p string) string {
	if strings.Contains(p, "://") {
		return p
	}
	return "nats://" + p
}

func hasPassword(u *url.Userinfo) bool {
	_, has := u.Password()
	return has
}

// redactUnparsed hides everything between the scheme and the last '@' of
// a URL that url.Parse could not split into its parts.
func redactUnparsed(p string) string {
	scheme, rest, _ := strings.Cut(p, "://")
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return p
	}
	return scheme + "://xxxxx" + rest[at:]
}

package natsconn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// pki is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in a temporary directory.
type pki struct {
	caFile, clientCert, clientKey string
	serverTLS                     *tls.Config // verifies clients against the CA
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "natsconn test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, usage x509.ExtKeyUsage) (der []byte, key *ecdsa.PrivateKey) {
		key = newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "natsconn test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	serverDER, serverKey := issue(2, x509.ExtKeyUsageServerAuth)
	clientDER, clientKey := issue(3, x509.ExtKeyUsageClientAuth)

	p := pki{
		caFile:     writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER),
		clientCert: writePEM(t, dir, "client.pem", "CERTIFICATE", clientDER),
		clientKey:  writePEM(t, dir, "client-key.pem", "PRIVATE KEY", marshalKey(t, clientKey)),
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	p.serverTLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func marshalKey(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A server that verifies clients lets in exactly the client that trusts
// its CA and shows the CA's client certificate.
func TestConnectTLS(t *testing.T) {
	p := newPKI(t)
	url := startServer(t, &server.Options{TLSConfig: p.serverTLS, TLSVerify: true, TLSTimeout: 5})
	for _, tc := range []struct {
		name string
		cfg  Config
		fail string // in the error; empty: connects
	}{
		{"CA and client certificate", Config{TLSCA: p.caFile, TLSCert: p.clientCert, TLSKey: p.clientKey}, ""},
		{"no CA", Config{TLSCert: p.clientCert, TLSKey: p.clientKey}, "unknown authority"},
		// With TLS 1.3 the server refuses the client after the client's
		// side of the handshake is done, so the error text varies.
		{"no client certificate", Config{TLSCA: p.caFile}, "tls"},
		{"client certificate as CA", Config{TLSCA: p.clientCert, TLSCert: p.clientCert, TLSKey: p.clientKey}, "unknown authority"},
		{"missing CA file", Config{TLSCA: filepath.Join(t.TempDir(), "none.pem"), TLSCert: p.clientCert, TLSKey: p.clientKey}, "none.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.URL = url
			nc, err := tc.cfg.Connect("tester")
			if tc.fail != "" {
				if err == nil {
					nc.Close()
					t.Fatal("connected")
				}
				if !strings.Contains(err.Error(), tc.fail) {
					t.Fatalf("error %q does not say %q", err, tc.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			roundTrip(t, nc)
			if _, err := nc.TLSConnectionState(); err != nil {
				t.Errorf("the connection does not use TLS: %v", err)
			}
		})
	}
}

// A CA alone makes the client use TLS with a nats:// URL too (nats.go's
// rule; deployments rely on it).
func TestConnectCAImpliesTLS(t *testing.T) {
	p := newPKI(t)
	serverTLS := p.serverTLS.Clone()
	serverTLS.ClientAuth = tls.NoClientCert
	url := startServer(t, &server.Options{TLSConfig: serverTLS, TLSTimeout: 5})
	nc, err := Config{URL: "nats://" + strings.TrimPrefix(url, "tls://"), TLSCA: p.caFile}.Connect("tester")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	roundTrip(t, nc)
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Errorf("the connection does not use TLS: %v", err)
	}
}

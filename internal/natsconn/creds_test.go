package natsconn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// operatorServer runs a server in operator (JWT) mode with one account and
// returns its URL and a credentials file of a user of that account.
func operatorServer(t *testing.T) (url, credsFile string) {
	t.Helper()
	operator, operatorPub := newNKey(t, nkeys.CreateOperator)
	account, accountPub := newNKey(t, nkeys.CreateAccount)
	user, userPub := newNKey(t, nkeys.CreateUser)

	operatorClaims := jwt.NewOperatorClaims(operatorPub)
	if _, err := operatorClaims.Encode(operator); err != nil {
		t.Fatal(err)
	}
	accountJWT, err := jwt.NewAccountClaims(accountPub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := user.Seed()
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		t.Fatal(err)
	}
	credsFile = filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		t.Fatal(err)
	}

	resolver := &server.MemAccResolver{}
	if err := resolver.Store(accountPub, accountJWT); err != nil {
		t.Fatal(err)
	}
	url = startServer(t, &server.Options{
		TrustedOperators: []*jwt.OperatorClaims{operatorClaims},
		AccountResolver:  resolver,
	})
	return url, credsFile
}

func newNKey(t *testing.T, create func() (nkeys.KeyPair, error)) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return kp, pub
}

func TestConnectWithCredentials(t *testing.T) {
	url, credsFile := operatorServer(t)

	nc, err := Config{URL: url, CredsFile: credsFile}.Connect("tester")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	roundTrip(t, nc)

	if nc, err := (Config{URL: url}).Connect("tester"); err == nil {
		nc.Close()
		t.Error("connected without credentials")
	}
	missing := filepath.Join(t.TempDir(), "none.creds")
	if nc, err := (Config{URL: url, CredsFile: missing}).Connect("tester"); err == nil || !strings.Contains(err.Error(), "none.creds") {
		if nc != nil {
			nc.Close()
		}
		t.Errorf("missing credentials file: error %v, want one naming it", err)
	}
}

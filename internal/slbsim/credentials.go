package slbsim

import (
	"sync"
	"time"
)

// DefaultAccount is the Alibaba Cloud account that owns every AccessKey
// not given another one (Config.KeyAccounts, STSCredential.Account). Quotas
// are counted per account.
const DefaultAccount = "default"

// STSCredential is a temporary credential from STS (AssumeRole): a key
// pair that is accepted only with its SecurityToken, and only until it
// expires.
type STSCredential struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
	// Expiration is when the credential stops working (zero: never).
	// Calls at or after it are answered 400 InvalidSecurityToken.Expired.
	Expiration time.Time
	// Account owns it ("": DefaultAccount): the role's account, whose
	// quotas its calls spend.
	Account string
}

type accessKey struct {
	secret  string
	active  bool
	account string
	token   string    // an STS key's SecurityToken; "" for a long-term key
	expires time.Time // an STS key's expiry; zero: never
}

// keyStore holds the account's AccessKeys; a disabled key stays known so
// that it answers InvalidAccessKeyId.Inactive rather than NotFound.
type keyStore struct {
	mu     sync.RWMutex
	keys   map[string]accessKey
	tokens map[string]string // SecurityToken -> its AccessKeyId
}

func newKeyStore(initial, accounts map[string]string, sts []STSCredential) *keyStore {
	ks := &keyStore{keys: make(map[string]accessKey, len(initial)), tokens: make(map[string]string)}
	for id, secret := range initial {
		ks.keys[id] = accessKey{secret: secret, active: true, account: accountOr(accounts[id])}
	}
	for _, c := range sts {
		ks.setSTS(c)
	}
	return ks
}

func accountOr(a string) string {
	if a == "" {
		return DefaultAccount
	}
	return a
}

func (ks *keyStore) lookup(id string) (accessKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.keys[id]
	return k, ok
}

// set adds a long-term key, or replaces its secret and re-enables it; a
// known key keeps its account.
func (ks *keyStore) set(id, secret string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	account := DefaultAccount
	if old, ok := ks.keys[id]; ok {
		account = old.account
		delete(ks.tokens, old.token)
	}
	ks.keys[id] = accessKey{secret: secret, active: true, account: account}
}

func (ks *keyStore) setSTS(c STSCredential) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if old, ok := ks.keys[c.AccessKeyID]; ok {
		delete(ks.tokens, old.token)
	}
	ks.keys[c.AccessKeyID] = accessKey{
		secret: c.AccessKeySecret, active: true, account: accountOr(c.Account),
		token: c.SecurityToken, expires: c.Expiration,
	}
	ks.tokens[c.SecurityToken] = c.AccessKeyID
}

func (ks *keyStore) disable(id string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if k, ok := ks.keys[id]; ok {
		k.active = false
		ks.keys[id] = k
	}
}

func (ks *keyStore) remove(id string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if k, ok := ks.keys[id]; ok {
		delete(ks.tokens, k.token)
	}
	delete(ks.keys, id)
}

// checkToken checks the SecurityToken a call signed with key id carried:
// a long-term key takes none, an STS key its own, unexpired.
func (ks *keyStore) checkToken(id string, k accessKey, token string, now time.Time) *apiError {
	switch {
	case k.token == "" && token == "":
		return nil
	case k.token == "":
		return errSecurityToken
	case token == "":
		return missing("SecurityToken")
	case token != k.token:
		ks.mu.RLock()
		owner, known := ks.tokens[token]
		ks.mu.RUnlock()
		if known && owner != id {
			return errSecurityToken // a real token, of another key
		}
		return errSecurityTokenMalformed
	case !k.expires.IsZero() && !now.Before(k.expires):
		return errSecurityTokenExpired
	}
	return nil
}

package slbsim

import "sync"

type accessKey struct {
	secret string
	active bool
}

// keyStore holds the account's AccessKeys; a disabled key stays known so
// that it answers InvalidAccessKeyId.Inactive rather than NotFound.
type keyStore struct {
	mu   sync.RWMutex
	keys map[string]accessKey
}

func newKeyStore(initial map[string]string) *keyStore {
	ks := &keyStore{keys: make(map[string]accessKey, len(initial))}
	for id, secret := range initial {
		ks.keys[id] = accessKey{secret: secret, active: true}
	}
	return ks
}

func (ks *keyStore) lookup(id string) (accessKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.keys[id]
	return k, ok
}

func (ks *keyStore) set(id, secret string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.keys[id] = accessKey{secret: secret, active: true}
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
	delete(ks.keys, id)
}

package slbsim

import (
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
)

var testSTS = STSCredential{AccessKeyID: "STS.test-ak", AccessKeySecret: "sts-secret", SecurityToken: "token-1"}

func TestSTSCredentialIsCheckedLikeAKeyPair(t *testing.T) {
	clock := newFakeClock()
	cred := testSTS
	cred.Expiration = clock.Now().Add(10 * time.Minute) // within the Timestamp window, so the clock can pass it
	other := STSCredential{AccessKeyID: "STS.other", AccessKeySecret: "other-secret", SecurityToken: "token-other"}
	h := start(t, Config{Clock: clock.Now, STSCredentials: []STSCredential{cred, other}})
	seedGroup(h.sim, "rsp-a", 5)

	sts := func(c STSCredential) error {
		t.Helper()
		cl, err := NewSTSClient(h.srv.URL, testRegion, c, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = remove(cl, "rsp-a", servers("i-1:80"))
		return err
	}
	if err := sts(cred); err != nil {
		t.Fatalf("valid STS credential: %v", err)
	}
	if c := h.lastCall(actionRemove); c.AccessKeyID != cred.AccessKeyID || c.Account != DefaultAccount {
		t.Errorf("call log %+v", c)
	}

	wrong := cred
	wrong.SecurityToken = "not-a-token"
	se := serverError(t, sts(wrong), http.StatusBadRequest, CodeSecurityTokenBad)
	if se.Message() != "Specified SecurityToken is malformed." {
		t.Errorf("message %q", se.Message())
	}
	swapped := cred
	swapped.SecurityToken = other.SecurityToken
	serverError(t, sts(swapped), http.StatusBadRequest, CodeSecurityTokenMismatch)
	badSecret := cred
	badSecret.AccessKeySecret = "guess"
	serverError(t, sts(badSecret), http.StatusBadRequest, CodeSignatureDoesNotMatch)

	// The STS key pair without its token.
	cl, err := NewClientWithCredential(h.srv.URL, testRegion, credentials.NewAccessKeyCredential(cred.AccessKeyID, cred.AccessKeySecret), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remove(cl, "rsp-a", servers("i-2:80"))
	serverError(t, err, http.StatusBadRequest, CodeMissingSecurityToken)

	// A long-term key with a token is refused, as before.
	h.sim.SetAccessKey(testAK, testSecret)
	longTerm := STSCredential{AccessKeyID: testAK, AccessKeySecret: testSecret, SecurityToken: cred.SecurityToken}
	serverError(t, sts(longTerm), http.StatusBadRequest, CodeSecurityTokenMismatch)

	clock.Advance(10 * time.Minute)
	se = serverError(t, sts(cred), http.StatusBadRequest, CodeSecurityTokenExpired)
	if se.Message() != "Specified SecurityToken is expired." {
		t.Errorf("message %q", se.Message())
	}
	// A refreshed credential works again; the old token no longer does.
	fresh := STSCredential{AccessKeyID: cred.AccessKeyID, AccessKeySecret: "sts-secret-2", SecurityToken: "token-2", Expiration: clock.Now().Add(time.Hour)}
	h.sim.SetSTSCredential(fresh)
	if err := sts(fresh); err != nil {
		t.Fatalf("refreshed credential: %v", err)
	}
	serverError(t, sts(cred), http.StatusBadRequest, CodeSignatureDoesNotMatch) // the old secret
	if bs, _ := h.sim.Backends(testRegion, "rsp-a"); backendIDs(bs) != "i-2:80,i-3:80,i-4:80,i-5:80" {
		t.Errorf("group holds %s: only the two accepted calls removed", backendIDs(bs))
	}
}

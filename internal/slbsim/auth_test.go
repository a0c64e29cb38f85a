package slbsim

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

func TestWrongSecretIsSignatureDoesNotMatch(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 1)
	_, err := remove(h.clientWith(testAK, "not-the-secret", 5*time.Second), "rsp-a", servers("i-1:80"))
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want *errors.ServerError, got %T: %v", err, err)
	}
	serverError(t, err, http.StatusBadRequest, CodeSignatureDoesNotMatch)
	if !strings.HasPrefix(se.Message(), "Specified signature is not matched with our calculation.") {
		t.Errorf("message %q", se.Message())
	}
	// The SDK compares the emulator's string to sign with its own and blames
	// the secret only when they are equal: this proves the canonicalization
	// matches the SDK's byte for byte.
	if !strings.Contains(se.Recommend(), "InvalidAccessKeySecret") {
		t.Errorf("SDK recommend %q: string to sign differs from the SDK's", se.Recommend())
	}
	if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("error reveals a secret: %v", err)
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); len(got) != 1 {
		t.Errorf("a rejected call changed the group")
	}
}

func TestAccessKeyLifecycle(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 3)

	_, err := remove(h.clientWith("nobody", "x", 5*time.Second), "rsp-a", servers("i-1:80"))
	serverError(t, err, http.StatusNotFound, CodeAccessKeyNotFound)

	h.sim.DisableAccessKey(testAK)
	_, err = remove(h.client(), "rsp-a", servers("i-1:80"))
	se := serverError(t, err, http.StatusBadRequest, CodeAccessKeyInactive)
	if se.Message() != "Specified access key is disabled." {
		t.Errorf("message %q", se.Message())
	}

	h.sim.SetAccessKey(testAK, testSecret) // re-enabled: the worker recovers
	if _, err := remove(h.client(), "rsp-a", servers("i-1:80")); err != nil {
		t.Fatalf("after SetAccessKey: %v", err)
	}

	h.sim.SetAccessKey(testAK, "rotated")
	_, err = remove(h.client(), "rsp-a", servers("i-2:80"))
	serverError(t, err, http.StatusBadRequest, CodeSignatureDoesNotMatch)
	if _, err := remove(h.clientWith(testAK, "rotated", 5*time.Second), "rsp-a", servers("i-2:80")); err != nil {
		t.Fatalf("with the rotated secret: %v", err)
	}

	h.sim.RemoveAccessKey(testAK)
	_, err = remove(h.clientWith(testAK, "rotated", 5*time.Second), "rsp-a", servers("i-3:80"))
	serverError(t, err, http.StatusNotFound, CodeAccessKeyNotFound)

	if got, _ := h.sim.Backends(testRegion, "rsp-a"); backendIDs(got) != "i-3:80" {
		t.Errorf("group holds %q, want i-3:80", backendIDs(got))
	}
}

func TestNonceReuseIsRefused(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 2)
	p := rawParams(actionRemove, map[string]string{"VServerGroupId": "rsp-a", "BackendServers": servers("i-1:80")})
	p["SignatureType"] = "" // the SDK sends it empty and signs it
	p["Signature"] = Sign(http.MethodPost, p, testSecret)

	first := h.post(p, false)
	if first.status != http.StatusOK {
		t.Fatalf("first send: %d %s", first.status, first.raw)
	}
	second := h.post(p, false)
	if second.status != http.StatusBadRequest || second.body.Code != CodeSignatureNonceUsed ||
		second.body.Message != "Specified signature nonce was used already." {
		t.Fatalf("replay: %d %s", second.status, second.raw)
	}

	// A fresh nonce, signed again, goes through; parameters in a form body
	// are read like those in the query.
	p["SignatureNonce"] = newRequestID()
	p["BackendServers"] = servers("i-2:80")
	delete(p, "Signature")
	p["Signature"] = Sign(http.MethodPost, p, testSecret)
	if a := h.post(p, true); a.status != http.StatusOK {
		t.Fatalf("form body: %d %s", a.status, a.raw)
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); len(got) != 0 {
		t.Errorf("group holds %q, want empty", backendIDs(got))
	}
}

func TestMalformedRequestsAreRefused(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 1)
	group := map[string]string{"VServerGroupId": "rsp-a", "BackendServers": servers("i-1:80")}
	for _, tc := range []struct {
		name   string
		edit   func(p map[string]string)
		sign   bool
		status int
		code   string
	}{
		{"no signature", func(map[string]string) {}, false, http.StatusBadRequest, CodeIncompleteSignature},
		{"other signature method", func(p map[string]string) { p["SignatureMethod"] = "HMAC-SHA256" }, true, http.StatusBadRequest, CodeIncompleteSignature},
		{"no nonce", func(p map[string]string) { delete(p, "SignatureNonce") }, true, http.StatusBadRequest, "MissingSignatureNonce"},
		{"old timestamp", func(p map[string]string) {
			p["Timestamp"] = time.Now().Add(-time.Hour).UTC().Format(timestampLayout)
		}, true, http.StatusBadRequest, CodeTimeStampExpired},
		{"bad timestamp", func(p map[string]string) { p["Timestamp"] = "yesterday" }, true, http.StatusBadRequest, CodeTimeStampFormat},
		{"xml", func(p map[string]string) { p["Format"] = "XML" }, true, http.StatusBadRequest, CodeUnsupportedFormat},
		{"old version", func(p map[string]string) { p["Version"] = "2013-01-01" }, true, http.StatusBadRequest, CodeInvalidVersion},
		{"unknown action", func(p map[string]string) { p["Action"] = "DeleteLoadBalancer" }, true, http.StatusNotFound, CodeActionNotFound},
		{"no region", func(p map[string]string) { delete(p, "RegionId") }, true, http.StatusBadRequest, "MissingRegionId"},
		{"sts token", func(p map[string]string) { p["SecurityToken"] = "token" }, true, http.StatusBadRequest, CodeSecurityTokenMismatch},
		{"tampered", func(p map[string]string) { p["VServerGroupId"] = "rsp-b" }, false, http.StatusBadRequest, CodeSignatureDoesNotMatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := rawParams(actionRemove, group)
			if tc.name == "tampered" {
				p["Signature"] = Sign(http.MethodPost, p, testSecret)
			}
			tc.edit(p)
			if tc.sign {
				p["Signature"] = Sign(http.MethodPost, p, testSecret)
			}
			a := h.post(p, false)
			if a.status != tc.status || a.body.Code != tc.code {
				t.Fatalf("got %d %s, want %d %s", a.status, a.raw, tc.status, tc.code)
			}
			if !requestIDPattern.MatchString(a.body.RequestId) || a.header.Get("x-acs-request-id") != a.body.RequestId ||
				a.body.HostId == "" || a.body.Message == "" || a.body.Recommend == "" {
				t.Errorf("error shape: %s", a.raw)
			}
		})
	}
	if got, _ := h.sim.Backends(testRegion, "rsp-a"); len(got) != 1 {
		t.Errorf("a refused call changed the group")
	}
}

func TestEveryAnswerHasAFreshRequestID(t *testing.T) {
	h := start(t, Config{})
	seedGroup(h.sim, "rsp-a", 5)
	cl := h.client()
	seen := map[string]bool{}
	note := func(id string) {
		if !requestIDPattern.MatchString(id) || seen[id] {
			t.Errorf("RequestId %q: malformed or repeated", id)
		}
		seen[id] = true
	}
	for i := range 5 {
		resp, err := remove(cl, "rsp-a", servers("i-1:80"))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		note(resp.RequestId)
		_, err = remove(cl, "rsp-nope", servers("i-1:80"))
		note(serverError(t, err, http.StatusNotFound, CodeInvalidParameter).RequestId())
	}
	for _, c := range h.sim.Calls() {
		if !seen[c.RequestID] {
			t.Errorf("call log has RequestId %s no answer carried", c.RequestID)
		}
	}
}

package slbsim

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/url"
	"strings"
)

// StringToSign is the RPC string to sign of a call: method, "&%2F&", then the
// percent-encoded canonical query of every parameter but Signature. It
// mirrors the SDK's buildRpcStringToSign step by step (url.Values encoding,
// then "+"->"%20", "*"->"%2A", "%7E"->"~", then one more QueryEscape), so the
// two agree on every character the SDK may send.
func StringToSign(method string, params map[string]string) string {
	v := make(url.Values, len(params))
	for k, val := range params {
		if k == "Signature" {
			continue
		}
		v[k] = []string{val}
	}
	canonical := v.Encode()
	canonical = strings.ReplaceAll(canonical, "+", "%20")
	canonical = strings.ReplaceAll(canonical, "*", "%2A")
	canonical = strings.ReplaceAll(canonical, "%7E", "~")
	return strings.ToUpper(method) + "&%2F&" + url.QueryEscape(canonical)
}

// Sign returns the Signature parameter of a call with these parameters, made
// with secret: base64(HMAC-SHA1(secret+"&", StringToSign)). Tests use it to
// hand-sign raw requests.
func Sign(method string, params map[string]string, secret string) string {
	return signString(StringToSign(method, params), secret)
}

func signString(stringToSign, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func signatureEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

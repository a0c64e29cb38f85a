package messages

import (
	"regexp"
	"strings"
	"testing"
)

// validKey is JetStream's rule for key-value keys.
var validKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

func TestOutcomeKeyTakesEveryRequestID(t *testing.T) {
	for _, id := range []string{
		"a", "asg-42-scalein-0001", "a:b", "a.b", ".lead", "trail.", "a..b", "A_b-C.d:E",
		strings.Repeat("z", MaxRequestIDLen), strings.Repeat(":", MaxRequestIDLen), strings.Repeat(".", 3),
	} {
		key := OutcomeKey(id)
		if !validKey.MatchString(key) || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
			t.Errorf("%q: key %q is not a valid key-value key", id, key)
		}
		back, err := RequestIDOfOutcomeKey(key)
		if err != nil || back != id {
			t.Errorf("%q: key %q reads back as %q, %v", id, key, back, err)
		}
	}
	if OutcomeKey("Ab") == OutcomeKey("aB") {
		t.Error("request ids differing in case share a key")
	}
	if _, err := RequestIDOfOutcomeKey("not base64!"); err == nil {
		t.Error("a key that is not base64url was read")
	}
}

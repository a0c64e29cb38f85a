package messages

import (
	"encoding/base64"
	"fmt"
)

// OutcomeBucket is the JetStream key-value bucket that remembers every
// terminal outcome by request id (contract "Remembering outcomes").
const OutcomeBucket = "SLB_DRAIN_OUTCOMES"

// OutcomeKey is the bucket key of a request id. A request id may hold ':'
// (not a key character) and '.' (a key's token separator, which may not
// lead, trail or repeat), so the key is the id in unpadded base64url:
// letters, digits, '-' and '_', one key per id and back again.
func OutcomeKey(requestID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(requestID))
}

// RequestIDOfOutcomeKey is the request id an OutcomeKey was made from.
func RequestIDOfOutcomeKey(key string) (string, error) {
	id, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		return "", fmt.Errorf("outcome key %q: %w", key, err)
	}
	return string(id), nil
}

package messages

// ParseTraceParent returns the trace id of a W3C trace context traceparent
// header value ("00-<trace-id>-<parent-id>-<flags>"): 32 lower-case hex
// digits, not all zero, as an event's trace_id carries it. ok is false for
// a value that is not a valid traceparent (version ff, a wrong length, an
// all-zero trace or parent id, upper-case hex). A version above 00 may
// carry more fields after the flags, which are ignored.
func ParseTraceParent(h string) (traceID string, ok bool) {
	// version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55.
	if len(h) < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return "", false
	}
	version, trace, parent, flags := h[:2], h[3:35], h[36:52], h[53:55]
	if !isHex(version) || version == "ff" || !isHex(flags) || !isHex(trace) || !isHex(parent) ||
		allZero(trace) || allZero(parent) {
		return "", false
	}
	if len(h) > 55 && (version == "00" || h[55] != '-') {
		return "", false
	}
	return trace, true
}

// ValidTraceID reports whether s is a W3C trace id: 32 lower-case hex
// digits, not all zero.
func ValidTraceID(s string) bool {
	return len(s) == 32 && isHex(s) && !allZero(s)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

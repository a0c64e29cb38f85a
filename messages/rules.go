package messages

import (
	"strconv"
	"unicode/utf8"
)

// The rules of the request table, written as byte loops rather than regular
// expressions because the worker checks every field of every request on its
// hot path. The rule texts double as the violation messages, so a rejected
// event tells the publisher exactly which pattern its value missed; the JSON
// Schema in schema/ states the same patterns and a test keeps them agreeing.
const (
	ruleRequestID      = "must match [A-Za-z0-9._:-]{1,128}"
	ruleRegionID       = "must match [a-z]{2,}(-[a-z0-9]+)+"
	ruleGroupID        = "must match rsp-[a-z0-9]+"
	ruleServerID       = "must match [A-Za-z0-9_-]{1,64}"
	rulePort           = "must be 1..65535"
	ruleInteger        = "must be an integer"
	ruleType           = "must be one of ecs, eni, eci"
	ruleDeadline       = "must be an RFC 3339 time"
	ruleText           = "at most 256 characters"
	ruleServers        = "must have 1..1000 entries"
	ruleVersion        = "must be 1 or 2"
	ruleRequired       = "required"
	ruleUTF8           = "must be valid UTF-8"
	ruleDuplicateField = "duplicate field"

	// Version 2.
	ruleV2Only          = "only in version 2"
	ruleAction          = "must be one of drain, restore"
	ruleMode            = "must be one of remove, graceful"
	ruleBoolean         = "must be a boolean"
	ruleWeight          = "must be 0..100"
	ruleDrainTimeout    = "must be a Go duration of 0s..1h, such as 90s or 2m30s"
	ruleDrainTimeoutMax = "must be at most 1h"
	ruleOnlyRestore     = "only with action restore"
	ruleOnlyDrain       = "only with action drain"
	ruleOnlyGraceful    = "only with mode graceful"
	ruleGroupScopePort  = "required in group scope"
)

// ValidRequestID reports whether s is a valid request_id:
// 1..128 characters of A-Z a-z 0-9 . _ : -
func ValidRequestID(s string) bool {
	if len(s) == 0 || len(s) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIDByte(s[i]) && s[i] != '.' && s[i] != ':' {
			return false
		}
	}
	return true
}

// ValidRegionID reports whether s matches ^[a-z]{2,}(-[a-z0-9]+)+$ , the
// shape of Alibaba Cloud region ids such as cn-hangzhou or ap-southeast-1.
func ValidRegionID(s string) bool {
	// The first segment is letters only and at least two long; each further
	// segment follows a '-' and is a non-empty run of [a-z0-9]. '-' is not in
	// either class, so splitting at '-' is unambiguous.
	i := 0
	for i < len(s) && isLower(s[i]) {
		i++
	}
	if i < 2 || i == len(s) || s[i] != '-' {
		return false
	}
	for i < len(s) {
		// s[i] == '-'
		i++
		start := i
		for i < len(s) && (isLower(s[i]) || isDigit(s[i])) {
			i++
		}
		if i == start || (i < len(s) && s[i] != '-') {
			return false
		}
	}
	return true
}

// ValidGroupID reports whether s matches ^rsp-[a-z0-9]+$ , the shape of a
// VServer group id.
func ValidGroupID(s string) bool {
	if len(s) < 5 || s[:4] != "rsp-" {
		return false
	}
	for i := 4; i < len(s); i++ {
		if !isLower(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// ValidServerID reports whether s is a valid server_id: 1..64 characters of
// A-Z a-z 0-9 - _
func ValidServerID(s string) bool {
	if len(s) == 0 || len(s) > MaxServerIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIDByte(s[i]) {
			return false
		}
	}
	return true
}

// ValidServerType reports whether t is a backend server type the API knows.
// The empty type is not: callers default it to TypeECS first.
func ValidServerType(t string) bool {
	return t == TypeECS || t == TypeENI || t == TypeECI
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isIDByte reports [A-Za-z0-9_-], the alphabet shared by server_id and
// request_id.
func isIDByte(c byte) bool {
	return isLower(c) || ('A' <= c && c <= 'Z') || isDigit(c) || c == '-' || c == '_'
}

// checkText returns the violated rule of reason or source, or "".
func checkText(s string) string {
	if !utf8.ValidString(s) {
		return ruleUTF8
	}
	if n := utf8.RuneCountInString(s); n > MaxTextChars {
		return ruleText + ", got " + strconv.Itoa(n)
	}
	return ""
}

// checkServerCount returns the violated rule of a backend_servers list of n
// raw entries, or "". It counts entries before duplicates are folded: a
// request that names more than 1000 servers is refused whatever they are.
func checkServerCount(n int) string {
	if n < 1 || n > MaxServers {
		return ruleServers + ", got " + strconv.Itoa(n)
	}
	return ""
}

// gotString renders a string value for a violation message: quoted and cut
// short, so that an error message stays small whatever the body held.
func gotString(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// gotLiteral renders a JSON number literal for a violation message, cut
// short like gotString.
func gotLiteral(lit string) string {
	const max = 32
	if len(lit) > max {
		return lit[:max] + "..."
	}
	return lit
}

package messages

import _ "embed"

// JSON Schemas (draft 2020-12) of the messages of both contract versions,
// for publishers and subscribers in other languages. They state the same
// rules as Decode, except what a schema cannot say: the match with the
// subject's tokens, the body size, the refusal of repeated member names, a
// deadline's year in UTC, and (version 2) the upper bound of drain_timeout.
// Note that "format": "date-time" is only an annotation unless a validator
// is told to assert formats; the deadline's pattern is not.
var (
	// RequestSchema and OutcomeSchema are version 1's
	// (drain-request.v1.json, outcome.v1.json).
	//go:embed schema/drain-request.v1.json
	RequestSchema []byte

	//go:embed schema/outcome.v1.json
	OutcomeSchema []byte

	// RequestSchemaV2 and OutcomeSchemaV2 are version 2's
	// (drain-request.v2.json, outcome.v2.json).
	//go:embed schema/drain-request.v2.json
	RequestSchemaV2 []byte

	//go:embed schema/outcome.v2.json
	OutcomeSchemaV2 []byte
)

// RequestSchemaFor is the request schema of version (1 or 2), or nil.
func RequestSchemaFor(version int) []byte {
	switch version {
	case Version1:
		return RequestSchema
	case Version2:
		return RequestSchemaV2
	}
	return nil
}

// OutcomeSchemaFor is the outcome schema of version (1 or 2), or nil: the
// schema an event of that Version is valid by.
func OutcomeSchemaFor(version int) []byte {
	switch version {
	case Version1:
		return OutcomeSchema
	case Version2:
		return OutcomeSchemaV2
	}
	return nil
}

// SchemaFiles are the schemas by file name (drain-request.v1.json,
// outcome.v1.json, drain-request.v2.json, outcome.v2.json), each under its
// $id's last path element, as a fresh map.
func SchemaFiles() map[string][]byte {
	return map[string][]byte{
		"drain-request.v1.json": RequestSchema,
		"outcome.v1.json":       OutcomeSchema,
		"drain-request.v2.json": RequestSchemaV2,
		"outcome.v2.json":       OutcomeSchemaV2,
	}
}

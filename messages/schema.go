package messages

import _ "embed"

// JSON Schemas (draft 2020-12) of the two version-1 messages, for
// publishers and subscribers in other languages. They state the same rules as
// Decode, except what a schema cannot say: the match with the subject's
// tokens, the body size, and the refusal of repeated member names. Note that
// "format": "date-time" is only an annotation unless a validator is told to
// assert formats.
var (
	//go:embed schema/drain-request.v1.json
	RequestSchema []byte

	//go:embed schema/outcome.v1.json
	OutcomeSchema []byte
)

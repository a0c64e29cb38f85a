package worker

import (
	"bytes"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/slbdrain/slbdrain/messages"
)

// outcomeSchema is the contract's outcome.v1.json, compiled once: every
// event an end-to-end test sees is checked against it.
var outcomeSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(messages.OutcomeSchema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("outcome.v1.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("outcome.v1.json")
})

// checkOutcomeSchema fails the test when data breaks outcome.v1.json.
func checkOutcomeSchema(t *testing.T, data []byte) {
	if err := validateOutcome(data); err != nil {
		t.Errorf("event breaks outcome.v1.json: %v\n%s", err, data)
	}
}

func validateOutcome(data []byte) error {
	sch, err := outcomeSchema()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

func TestSchemaCheckCatchesABrokenEvent(t *testing.T) {
	if err := validateOutcome([]byte(`{"version": 1}`)); err == nil {
		t.Error("an event missing required fields passed the schema check")
	}
}

package worker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/slbdrain/slbdrain/messages"
)

// outcomeSchemas are the contract's outcome schemas by version, compiled
// once: every event an end-to-end test sees is checked against its own.
var outcomeSchemas = sync.OnceValues(func() (map[int]*jsonschema.Schema, error) {
	out := map[int]*jsonschema.Schema{}
	for _, v := range []int{messages.Version1, messages.Version2} {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(messages.OutcomeSchemaFor(v)))
		if err != nil {
			return nil, err
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		name := fmt.Sprintf("outcome.v%d.json", v)
		if err := c.AddResource(name, doc); err != nil {
			return nil, err
		}
		if out[v], err = c.Compile(name); err != nil {
			return nil, err
		}
	}
	return out, nil
})

// checkOutcomeSchema fails the test when data breaks the outcome schema of its version.
func checkOutcomeSchema(t *testing.T, data []byte) {
	if err := validateOutcome(data); err != nil {
		t.Errorf("event breaks its outcome schema: %v\n%s", err, data)
	}
}

func validateOutcome(data []byte) error {
	schemas, err := outcomeSchemas()
	if err != nil {
		return err
	}
	var head struct {
		Version int `json:"version"`
	}
	_ = json.Unmarshal(data, &head)
	sch := schemas[head.Version]
	if sch == nil {
		sch = schemas[messages.Version1] // and let it say what is wrong
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
	if err := validateOutcome([]byte(`{"version": 2}`)); err == nil {
		t.Error("a version-2 event missing required fields passed the schema check")
	}
}

package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The tests judge documents by the schemas with a real JSON Schema
// validator, github.com/santhosh-tekuri/jsonschema (draft 2020-12, formats
// asserted), written independently of the package's reading and checks. Two
// guards keep it from judging less than it seems to:
//
//   - a schema may use only the keywords listed in schemaKeywords: a
//     misspelt keyword ("maxitem") is an annotation to a validator and would
//     silently check nothing;
//   - the validator parses with encoding/json, which replaces invalid UTF-8
//     and keeps one of repeated names, so invalid UTF-8 is refused before it
//     (repeated names are left to the callers, which know Decode refuses
//     them), and numbers whose exponent math/big refuses (the validator would
//     panic on them) are replaced by numbers of the same verdict.

// schemaKeywords are the keywords the schemas may use, and where a keyword's
// value holds schemas.
var schemaKeywords = map[string]string{
	"$schema": "", "$id": "", "$comment": "", "title": "", "description": "",
	"type": "", "required": "", "additionalProperties": "", "minItems": "", "maxItems": "",
	"minLength": "", "maxLength": "", "minimum": "", "maximum": "", "pattern": "",
	"enum": "", "const": "", "format": "",
	"properties": "map", "items": "schema", "allOf": "list",
	"if": "schema", "then": "schema", "else": "schema", "not": "schema",
}

// lintSchema reports the first keyword of s (a parsed schema) outside
// schemaKeywords, and an additionalProperties or format it does not expect.
func lintSchema(s any, path string) error {
	obj, ok := s.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: a schema must be an object, got %T", path, s)
	}
	for _, kw := range slices.Sorted(func(yield func(string) bool) {
		for k := range obj {
			if !yield(k) {
				return
			}
		}
	}) {
		arg := obj[kw]
		role, known := schemaKeywords[kw]
		switch {
		case !known:
			return fmt.Errorf("%s: keyword %q not in the list the tests know", path, kw)
		case kw == "additionalProperties" && arg != false:
			return fmt.Errorf("%s: additionalProperties other than false", path)
		case kw == "format" && arg != "date-time":
			return fmt.Errorf("%s: format %v", path, arg)
		case role == "schema":
			if err := lintSchema(arg, path+"/"+kw); err != nil {
				return err
			}
		case role == "map":
			for name, sub := range arg.(map[string]any) {
				if err := lintSchema(sub, path+"/"+kw+"/"+name); err != nil {
					return err
				}
			}
		case role == "list":
			for i, sub := range arg.([]any) {
				if err := lintSchema(sub, path+"/"+kw+"/"+strconv.Itoa(i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

var (
	compiledMu sync.Mutex
	compiled   = map[string]*jsonschema.Schema{}
)

// compileSchema lints and compiles schema (cached by its text).
func compileSchema(schema []byte) (*jsonschema.Schema, error) {
	compiledMu.Lock()
	defer compiledMu.Unlock()
	if s, ok := compiled[string(schema)]; ok {
		return s, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if err := lintSchema(doc, "#"); err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const url = "mem://schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, err
	}
	compiled[string(schema)] = s
	return s, nil
}

// schemaCheck validates document data against schema and returns the
// violations found (nil: valid). A schema that does not compile, or uses a
// keyword the tests do not know, is reported through the second result.
func schemaCheck(schema, data []byte) (violations []string, schemaErr error) {
	s, err := compileSchema(schema)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(data) {
		return []string{"document: not UTF-8"}, nil
	}
	if !json.Valid(data) {
		return []string{"document: not JSON"}, nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return []string{"document: " + err.Error()}, nil
	}
	inst = tameNumbers(inst, len(data))
	err = s.Validate(inst)
	if err == nil {
		return nil, nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return nil, err
	}
	var leaves func(e *jsonschema.ValidationError)
	leaves = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			violations = append(violations, "/"+strings.Join(e.InstanceLocation, "/")+": "+fmt.Sprint(e.ErrorKind))
		}
		for _, c := range e.Causes {
			leaves(c)
		}
	}
	leaves(ve)
	return violations, nil
}

// tameNumbers replaces each number of v whose exponent math/big refuses
// with one of the same sign, integer-ness and side of every bound the
// schemas state (all far below 10^6): its exponent cut to ±(n+1000), n being
// the document's length, which no mantissa of the document outgrows.
func tameNumbers(v any, n int) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = tameNumbers(x, n)
		}
	case []any:
		for i, x := range v {
			v[i] = tameNumbers(x, n)
		}
	case json.Number:
		if _, ok := new(big.Rat).SetString(string(v)); ok {
			return v
		}
		mant, exp, _ := strings.Cut(strings.ToLower(string(v)), "e")
		limit := n + 1000
		if strings.HasPrefix(exp, "-") {
			return json.Number(mant + "e-" + strconv.Itoa(limit))
		}
		return json.Number(mant + "e" + strconv.Itoa(limit))
	}
	return v
}

var (
	regexpMu    sync.Mutex
	regexpCache = map[string]*regexp.Regexp{}
)

func schemaRegexp(p string) *regexp.Regexp {
	regexpMu.Lock()
	defer regexpMu.Unlock()
	re, ok := regexpCache[p]
	if !ok {
		re = regexp.MustCompile(p)
		regexpCache[p] = re
	}
	return re
}

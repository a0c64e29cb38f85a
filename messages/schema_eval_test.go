package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// A deliberately small JSON Schema evaluator for the keywords our two
// schemas use, so that the tests can hold the schemas and the Go rules in
// agreement without a dependency. It is written independently of the
// package's own reading and checks: encoding/json to parse, regexp for
// patterns, math/big for numbers, time.Parse for date-time. A schema that
// uses any other keyword fails the test instead of being half-checked.

// schemaDoc parses a schema or instance document, keeping numbers exact.
func schemaDoc(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("not UTF-8")
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("not JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// schemaCheck validates document data against schema and returns the
// violations found (nil: valid). A keyword it does not know is an error of
// the schema, reported through the second result.
func schemaCheck(schema, data []byte) (violations []string, schemaErr error) {
	s, err := schemaDoc(schema)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	inst, err := schemaDoc(data)
	if err != nil {
		return []string{"document: " + err.Error()}, nil
	}
	e := &schemaEval{}
	e.check(s.(map[string]any), inst, "$")
	return e.violations, e.schemaErr
}

type schemaEval struct {
	violations []string
	schemaErr  error
}

func (e *schemaEval) fail(path, format string, args ...any) {
	e.violations = append(e.violations, path+": "+fmt.Sprintf(format, args...))
}

var annotationKeywords = map[string]bool{"$schema": true, "$id": true, "title": true, "description": true}

func (e *schemaEval) check(s map[string]any, inst any, path string) {
	for kw, arg := range s {
		switch kw {
		case "type":
			var types []string
			switch a := arg.(type) {
			case string:
				types = []string{a}
			case []any:
				for _, t := range a {
					types = append(types, t.(string))
				}
			}
			ok := false
			for _, t := range types {
				ok = ok || hasType(inst, t)
			}
			if !ok {
				e.fail(path, "type %v", types)
			}
		case "required":
			if obj, ok := inst.(map[string]any); ok {
				for _, name := range arg.([]any) {
					if _, ok := obj[name.(string)]; !ok {
						e.fail(path, "required %q", name)
					}
				}
			}
		case "properties":
			if obj, ok := inst.(map[string]any); ok {
				for name, sub := range arg.(map[string]any) {
					if v, ok := obj[name]; ok {
						e.check(sub.(map[string]any), v, path+"."+name)
					}
				}
			}
		case "additionalProperties":
			if arg != false {
				e.schemaErr = fmt.Errorf("additionalProperties other than false at %s", path)
				return
			}
			if obj, ok := inst.(map[string]any); ok {
				props, _ := s["properties"].(map[string]any)
				for name := range obj {
					if _, ok := props[name]; !ok {
						e.fail(path, "additional property %q", name)
					}
				}
			}
		case "items":
			if arr, ok := inst.([]any); ok {
				for i, v := range arr {
					e.check(arg.(map[string]any), v, path+"["+strconv.Itoa(i)+"]")
				}
			}
		case "minItems", "maxItems":
			if arr, ok := inst.([]any); ok {
				n := schemaInt(arg)
				if (kw == "minItems" && len(arr) < n) || (kw == "maxItems" && len(arr) > n) {
					e.fail(path, "%s %d, got %d", kw, n, len(arr))
				}
			}
		case "minLength", "maxLength":
			if str, ok := inst.(string); ok {
				n := schemaInt(arg)
				l := utf8.RuneCountInString(str)
				if (kw == "minLength" && l < n) || (kw == "maxLength" && l > n) {
					e.fail(path, "%s %d, got %d", kw, n, l)
				}
			}
		case "minimum", "maximum":
			if num, ok := inst.(json.Number); ok {
				c := numberRat(num).Cmp(numberRat(arg.(json.Number)))
				if (kw == "minimum" && c < 0) || (kw == "maximum" && c > 0) {
					e.fail(path, "%s %v, got %v", kw, arg, num)
				}
			}
		case "pattern":
			if str, ok := inst.(string); ok && !schemaRegexp(arg.(string)).MatchString(str) {
				e.fail(path, "pattern %s", arg)
			}
		case "enum":
			ok := false
			for _, v := range arg.([]any) {
				ok = ok || jsonEqual(v, inst)
			}
			if !ok {
				e.fail(path, "enum %v", arg)
			}
		case "const":
			if !jsonEqual(arg, inst) {
				e.fail(path, "const %v", arg)
			}
		case "format":
			if arg != "date-time" {
				e.schemaErr = fmt.Errorf("format %v at %s", arg, path)
				return
			}
			if str, ok := inst.(string); ok && !schemaDateTime(str) {
				e.fail(path, "format date-time")
			}
		default:
			if !annotationKeywords[kw] {
				e.schemaErr = fmt.Errorf("keyword %q at %s not supported by the test evaluator", kw, path)
				return
			}
		}
	}
}

func hasType(v any, t string) bool {
	switch v := v.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case string:
		return t == "string"
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	case json.Number:
		return t == "number" || (t == "integer" && numberRat(v).IsInt())
	}
	return false
}

func schemaInt(v any) int {
	n, err := strconv.Atoi(string(v.(json.Number)))
	if err != nil {
		panic(err)
	}
	return n
}

// numberRat is the exact value of a JSON number. Exponents beyond ±1000 are
// clamped, which keeps every comparison these schemas make (integer or not,
// against bounds below 10^6) right while never building a huge power of ten.
func numberRat(n json.Number) *big.Rat {
	s := string(n)
	mant, expStr, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp := 0
	if hasExp {
		e, err := strconv.Atoi(expStr)
		if err != nil || e > 1000 || e < -1000 { // out of int range or beyond the clamp
			if strings.HasPrefix(expStr, "-") {
				e = -1000
			} else {
				e = 1000
			}
		}
		exp = e
	}
	r, ok := new(big.Rat).SetString(mant)
	if !ok {
		panic("bad number " + s)
	}
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil))
	if exp >= 0 {
		return r.Mul(r, p)
	}
	return r.Quo(r, p)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func jsonEqual(a, b any) bool {
	an, aNum := a.(json.Number)
	bn, bNum := b.(json.Number)
	if aNum || bNum {
		return aNum && bNum && numberRat(an).Cmp(numberRat(bn)) == 0
	}
	switch a.(type) {
	case nil, bool, string:
		return a == b
	}
	panic(fmt.Sprintf("jsonEqual of %T not needed by our schemas", a))
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

// RFC 3339 date-time: the shape by pattern (time.Parse alone accepts one-digit
// hours and offsets like +24:00), the calendar by time.Parse.
var dateTimeShape = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

func schemaDateTime(s string) bool {
	if !dateTimeShape.MatchString(s) {
		return false
	}
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

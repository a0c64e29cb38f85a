package slbsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Backend is a backend server of a VServer group.
type Backend struct {
	ServerID    string
	Port        int
	Type        string // ecs (default), eni or eci
	Weight      int
	Description string
}

const (
	defaultType   = "ecs"
	defaultWeight = 100
)

// wireBackend is one element of the BackendServers parameter. Port and
// Weight come as numbers or as strings (Alibaba's own examples quote them).
type wireBackend struct {
	ServerId    string
	Port        flexInt
	Type        string
	Weight      flexInt
	Description string
}

type flexInt struct {
	n   int
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := string(b)
	if len(b) >= 2 && b[0] == '"' {
		s = string(b[1 : len(b)-1])
		if bytes.IndexByte(b, '\\') >= 0 { // escapes: rare, let json undo them
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	f.n, f.set = n, true
	return nil
}

// parseBackendServers decodes the BackendServers parameter: a JSON array of
// objects. Alibaba's documentation shows it with single quotes, which its
// parser accepts; so does this one, when the text has no double quote.
func parseBackendServers(raw string) ([]wireBackend, *apiError) {
	var list []wireBackend
	err := json.Unmarshal([]byte(raw), &list)
	if err != nil && strings.Contains(raw, "'") && !strings.Contains(raw, `"`) {
		err = json.Unmarshal([]byte(strings.ReplaceAll(raw, "'", `"`)), &list)
	}
	if err != nil {
		return nil, malformed("not a JSON array of backend servers: " + err.Error())
	}
	return list, nil
}

// validateBackends checks the decoded list and fills defaults. Every action
// names a backend by ServerId and Port, so both are required.
func validateBackends(list []wireBackend) ([]Backend, *apiError) {
	if len(list) == 0 {
		return nil, malformed("it lists no backend server")
	}
	if len(list) > MaxBackendServers {
		return nil, errTooManyBackends
	}
	out := make([]Backend, 0, len(list))
	for i, w := range list {
		if w.ServerId == "" {
			return nil, malformed(fmt.Sprintf("element %d has no ServerId", i+1))
		}
		if !w.Port.set {
			return nil, malformed(fmt.Sprintf("element %d (%s) has no Port", i+1, w.ServerId))
		}
		if w.Port.n < 1 || w.Port.n > 65535 {
			return nil, malformed(fmt.Sprintf("element %d (%s) has Port %d, out of 1-65535", i+1, w.ServerId, w.Port.n))
		}
		typ := strings.ToLower(w.Type)
		switch typ {
		case "":
			typ = defaultType
		case "ecs", "eni", "eci":
		default:
			return nil, errInvalidType
		}
		weight := defaultWeight
		if w.Weight.set {
			if w.Weight.n < 0 || w.Weight.n > 100 {
				return nil, malformed(fmt.Sprintf("element %d (%s) has Weight %d, out of 0-100", i+1, w.ServerId, w.Weight.n))
			}
			weight = w.Weight.n
		}
		out = append(out, Backend{ServerID: w.ServerId, Port: w.Port.n, Type: typ, Weight: weight, Description: w.Description})
	}
	return out, nil
}

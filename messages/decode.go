package messages

import (
	"bytes"
	"strconv"
)

// Decode reads a drain request received on subject, strictly: a body larger
// than MaxRequestBytes, invalid JSON (or UTF-8), trailing data, unknown or
// repeated fields, every rule of the contract's request table, and
// region/group tokens of subject that differ from the body (or a subject that
// is not a request subject) are all violations, listed together in a
// *ValidationError. Optional fields may be null, meaning absent; required
// ones may not. Numbers are judged by value, so a port of 80.0 is 80.
//
// A valid request comes back normalised as Validate leaves it: types
// defaulted to "ecs", duplicate servers folded, the deadline in UTC.
//
// On error Decode still returns what it could read, so that the caller can
// name the request in its rejected event; of that, only RequestID is
// dependable: it is set only if the field was read once and is valid, else "".
func Decode(subject string, data []byte) (DrainRequest, error) {
	d := decoder{s: newScanner(data)}
	d.body(len(data))
	d.subject(subject)
	return d.result()
}

// decodeBody is Decode without the subject check, for the tests that hold
// the decoder and the JSON Schema (which knows no subjects) in agreement.
func decodeBody(data []byte) (DrainRequest, error) {
	d := decoder{s: newScanner(data)}
	d.body(len(data))
	return d.result()
}

// decoder reads one request. It records violations and carries on wherever
// the JSON itself is sound, so that one answer lists everything wrong.
type decoder struct {
	s   scanner
	req DrainRequest
	vs  violations
	// seen marks the top-level fields read (bits of field*), for required
	// and duplicate checks; valid marks those that passed their rules.
	seen, valid uint16
	// servers is the raw count of backend_servers entries.
	servers int
}

const (
	fVersion uint16 = 1 << iota
	fRequestID
	fRegionID
	fGroupID
	fServers
	fReason
	fSource
	fDeadline
)

func (d *decoder) result() (DrainRequest, error) {
	if d.vs.any() {
		if d.valid&fRequestID == 0 {
			d.req.RequestID = ""
		}
		return d.req, d.vs.err()
	}
	d.req.BackendServers = FoldServers(d.req.BackendServers)
	return d.req, nil
}

func (d *decoder) body(size int) {
	if size > MaxRequestBytes {
		// Read on regardless: the request_id may still be recoverable for
		// the rejected event, and reading is linear in the size.
		d.vs.add("body", "larger than "+strconv.Itoa(MaxRequestBytes)+" bytes, got "+strconv.Itoa(size))
	}
	s := &d.s
	if s.ws() == '{' {
		d.object()
	} else if k, _ := s.value(1); k != kindInvalid {
		d.vs.add("body", "must be a JSON object, got "+k.String())
	}
	if s.ws(); !s.failed && s.pos < len(s.data) {
		s.fail("trailing data after the top-level value")
	}
	switch {
	case s.tooDeep:
		d.vs.add("body", s.errMsg)
	case s.failed:
		d.vs.add("body", "invalid JSON: "+s.errMsg)
	}
}

// object reads the top-level object; s.pos is at its '{'.
func (d *decoder) object() {
	s := &d.s
	if s.open('}') {
		for {
			key := s.key()
			if s.failed {
				return
			}
			d.field(key)
			if !s.more('}') {
				break
			}
		}
	}
	if s.failed {
		return // what follows the error is unknown: do not call it missing
	}
	d.required(fVersion, "version")
	d.required(fRequestID, "request_id")
	d.required(fRegionID, "region_id")
	d.required(fGroupID, "vserver_group_id")
	d.required(fServers, "backend_servers")
}

func (d *decoder) required(f uint16, name string) {
	if d.seen&f == 0 {
		d.vs.add(name, ruleRequired)
	}
}

// once marks f as seen and reports whether it was the first time; a repeated
// field is a violation, since parsers disagree about which copy wins.
func (d *decoder) once(f uint16, name string) bool {
	if d.seen&f != 0 {
		d.vs.add(name, ruleDuplicateField)
		d.valid &^= f
		d.s.value(2)
		return false
	}
	d.seen |= f
	return true
}

func (d *decoder) field(key string) {
	switch key {
	case "version":
		if d.once(fVersion, key) {
			d.version()
		}
	case "request_id":
		if d.once(fRequestID, key) {
			if v, ok := d.str(key, false); ok {
				if ValidRequestID(v) {
					d.req.RequestID = v
					d.valid |= fRequestID
				} else {
					d.vs.add(key, ruleRequestID+", got "+gotString(v))
				}
			}
		}
	case "region_id":
		if d.once(fRegionID, key) {
			if v, ok := d.str(key, false); ok {
				d.req.RegionID = v
				if ValidRegionID(v) {
					d.valid |= fRegionID
				} else {
					d.vs.add(key, ruleRegionID+", got "+gotString(v))
				}
			}
		}
	case "vserver_group_id":
		if d.once(fGroupID, key) {
			if v, ok := d.str(key, false); ok {
				d.req.VServerGroupID = v
				if ValidGroupID(v) {
					d.valid |= fGroupID
				} else {
					d.vs.add(key, ruleGroupID+", got "+gotString(v))
				}
			}
		}
	case "backend_servers":
		if d.once(fServers, key) {
			d.serverList()
		}
	case "reason":
		if d.once(fReason, key) {
			d.req.Reason = d.text(key)
		}
	case "source":
		if d.once(fSource, key) {
			d.req.Source = d.text(key)
		}
	case "deadline":
		if d.once(fDeadline, key) {
			d.deadline()
		}
	default:
		d.vs.add("", "unknown field "+gotString(key))
		d.s.value(2)
	}
}

func (d *decoder) version() {
	k, v := d.s.value(2)
	switch k {
	case kindInvalid:
	case kindNumber:
		if n, integral, small := integerValue(v); integral && small && n == Version {
			d.req.Version = Version
			return
		}
		d.vs.add("version", ruleVersion+", got "+gotLiteral(v))
	default:
		d.vs.add("version", ruleVersion+", got "+k.String())
	}
}

// str reads a string field. An optional field may be null (ok false, no
// violation); anything else that is not a string is a violation.
func (d *decoder) str(field string, optional bool) (v string, ok bool) {
	k, v := d.s.value(2)
	switch {
	case k == kindString:
		return v, true
	case k == kindInvalid, k == kindNull && optional:
	default:
		d.vs.add(field, "must be a string, got "+k.String())
	}
	return "", false
}

// text reads reason or source.
func (d *decoder) text(field string) string {
	v, ok := d.str(field, true)
	if !ok {
		return ""
	}
	// The scanner has checked UTF-8 already; checkText repeats that
	// cheaply and counts runes.
	if rule := checkText(v); rule != "" {
		d.vs.add(field, rule)
	}
	return v
}

func (d *decoder) deadline() {
	k, v := d.s.value(2)
	switch k {
	case kindInvalid, kindNull:
	case kindString:
		t, ok := parseRFC3339(v)
		if !ok {
			d.vs.add("deadline", ruleDeadline+", got "+gotString(v))
			return
		}
		if rule := checkDeadlineYear(t); rule != "" {
			d.vs.add("deadline", rule)
			return
		}
		d.req.Deadline = &t
	default:
		d.vs.add("deadline", ruleDeadline+", got "+k.String())
	}
}

func (d *decoder) serverList() {
	s := &d.s
	if s.ws() != '[' {
		if k, _ := s.value(2); k != kindInvalid {
			d.vs.add("backend_servers", "must be an array, got "+k.String())
		}
		return
	}
	// Size the list from the number of "server_id" names in the body: one
	// allocation for the usual request, and bounded by the body.
	capacity := bytes.Count(s.data[s.pos:], []byte(`"server_id"`))
	d.req.BackendServers = make([]BackendServer, 0, min(max(capacity, 1), MaxServers))
	n := 0
	if s.open(']') {
		for {
			if n < MaxServers {
				d.server(n)
			} else {
				// Refused for its length already: only the syntax of
				// the rest matters.
				s.value(3)
			}
			n++
			if !s.more(']') {
				break
			}
		}
	}
	if s.failed {
		return
	}
	d.servers = n
	if rule := checkServerCount(n); rule != "" {
		d.vs.add("backend_servers", rule)
	}
}

const (
	sServerID uint8 = 1 << iota
	sPort
	sType
)

// server reads backend_servers[i].
func (d *decoder) server(i int) {
	s := &d.s
	if s.ws() != '{' {
		if k, _ := s.value(3); k != kindInvalid {
			d.vs.add(serverField(i, ""), "must be an object, got "+k.String())
		}
		return
	}
	var b BackendServer
	var seen uint8
	if s.open('}') {
		for {
			key := s.key()
			if s.failed {
				return
			}
			var f uint8
			switch key {
			case "server_id":
				f = sServerID
			case "port":
				f = sPort
			case "type":
				f = sType
			default:
				d.vs.add(serverField(i, ""), "unknown field "+gotString(key))
				s.value(4)
			}
			if f != 0 && seen&f != 0 {
				d.vs.add(serverField(i, key), ruleDuplicateField)
				s.value(4)
				f = 0
			}
			seen |= f
			switch f {
			case sServerID:
				b.ServerID = d.serverID(i)
			case sPort:
				b.Port = d.port(i)
			case sType:
				b.Type = d.serverType(i)
			}
			if !s.more('}') {
				break
			}
		}
	}
	if s.failed {
		return
	}
	if seen&sServerID == 0 {
		d.vs.add(serverField(i, "server_id"), ruleRequired)
	}
	if seen&sPort == 0 {
		d.vs.add(serverField(i, "port"), ruleRequired)
	}
	if b.Type == "" {
		b.Type = TypeECS
	}
	d.req.BackendServers = append(d.req.BackendServers, b)
}

func (d *decoder) serverID(i int) string {
	k, v := d.s.value(4)
	switch k {
	case kindInvalid:
	case kindString:
		if !ValidServerID(v) {
			d.vs.add(serverField(i, "server_id"), ruleServerID+", got "+gotString(v))
		}
		return v
	default:
		d.vs.add(serverField(i, "server_id"), "must be a string, got "+k.String())
	}
	return ""
}

func (d *decoder) port(i int) int {
	k, v := d.s.value(4)
	switch k {
	case kindInvalid:
	case kindNumber:
		n, integral, small := integerValue(v)
		switch {
		case !integral:
			d.vs.add(serverField(i, "port"), ruleInteger+", got "+gotLiteral(v))
		case !small || n < MinPort || n > MaxPort:
			d.vs.add(serverField(i, "port"), rulePort+", got "+gotLiteral(v))
		default:
			return int(n)
		}
	default:
		d.vs.add(serverField(i, "port"), ruleInteger+", got "+k.String())
	}
	return 0
}

func (d *decoder) serverType(i int) string {
	k, v := d.s.value(4)
	switch k {
	case kindInvalid, kindNull:
	case kindString:
		if ValidServerType(v) {
			return v
		}
		d.vs.add(serverField(i, "type"), ruleType+", got "+gotString(v))
	default:
		d.vs.add(serverField(i, "type"), ruleType+", got "+k.String())
	}
	return ""
}

// subject checks subject against the body's region and group.
func (d *decoder) subject(subject string) {
	region, group, err := ParseRequestSubject(subject)
	if err != nil {
		d.vs.add("subject", "must be slb.drain.request.<region_id>.<vserver_group_id> with valid tokens, got "+gotString(subject))
		return
	}
	// Compare only values that are valid themselves: an invalid one has its
	// own violation already.
	if d.valid&fRegionID != 0 && d.req.RegionID != region {
		d.vs.add("region_id", "does not match subject token "+gotString(region))
	}
	if d.valid&fGroupID != 0 && d.req.VServerGroupID != group {
		d.vs.add("vserver_group_id", "does not match subject token "+gotString(group))
	}
}

package slbsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// timestampLayout is the ISO 8601 form the RPC Timestamp parameter uses.
const timestampLayout = "2006-01-02T15:04:05Z"

// timestampSkew is how far a Timestamp may be from the server's clock.
const timestampSkew = 15 * time.Minute

// call is one request on its way through the handler.
type call struct {
	params  map[string]string
	action  string
	region  string
	groupID string
	account string        // the owner of the key, once authenticated
	wire    []wireBackend // BackendServers, decoded
	wireErr *apiError     // why BackendServers did not decode
	rec     Call
}

// outcome is what process decided: a response body or an error, and the
// injected fault if any.
type outcome struct {
	body      any
	err       *apiError
	fault     fault
	slowDelay time.Duration
}

// ServeHTTP answers one RPC call of the SLB API.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{rec: Call{RequestID: newRequestID(), Start: s.now()}}
	var out outcome
	if err := r.ParseForm(); err != nil {
		out.err = newAPIError(http.StatusBadRequest, CodeInvalidParameter, "The request could not be parsed: "+err.Error())
	} else {
		c.read(r)
	}

	// A write (Remove, Add, Set) is in progress on its group from arrival
	// to answer, whatever the answer: the worker must never have two at
	// once on one group.
	inflight := writesGroup[c.action] && c.groupID != ""
	key := groupKey{c.region, c.groupID}
	if inflight {
		c.rec.Overlap = s.log.enter(key)
	}
	leave := func() {
		if inflight {
			s.log.leave(key)
			inflight = false
		}
	}
	defer leave()
	if hook := s.cfg.OnCallStart; hook != nil {
		hook(c.rec)
	}

	if out.err == nil {
		out = s.process(r, c)
	}
	c.rec.Fault = out.fault.String()
	s.sleep(r.Context(), s.latencyFor())

	switch out.fault {
	case faultDrop:
		c.rec.Code = CodeDropped
		s.finish(c, leave)
		drop(w)
		return
	case faultSlow:
		// The action is done; only the answer is late. The call stops
		// counting as in progress so a retry after the client's timeout is
		// not an overlap.
		leave()
		s.sleep(r.Context(), out.slowDelay)
	}
	s.write(w, c, out)
	s.finish(c, leave)
}

// read takes the parameters of the request, from the query and the form
// body alike (the SDK puts them in the query, other clients in the body).
func (c *call) read(r *http.Request) {
	c.params = make(map[string]string, len(r.Form))
	for k, v := range r.Form {
		if len(v) > 0 {
			c.params[k] = v[0]
		}
	}
	c.action = c.params["Action"]
	c.region = c.params["RegionId"]
	c.groupID = c.params["VServerGroupId"]
	if raw := c.params["BackendServers"]; raw != "" {
		c.wire, c.wireErr = parseBackendServers(raw)
	}
	c.rec.Action, c.rec.RegionID, c.rec.GroupID = c.action, c.region, c.groupID
	c.rec.AccessKeyID = c.params["AccessKeyId"]
	c.rec.Servers = len(c.wire)
}

// process runs the checks in Alibaba's order, then the action.
func (s *Sim) process(r *http.Request, c *call) outcome {
	if apiErr := s.checkCommon(c); apiErr != nil {
		return outcome{err: apiErr}
	}
	if apiErr := s.authenticate(r.Method, c); apiErr != nil {
		return outcome{err: apiErr}
	}
	if c.region == "" {
		return outcome{err: missing("RegionId")}
	}
	if c.groupID != "" && s.state.isDenied(c.region, c.groupID) {
		return outcome{err: errForbiddenRAM}
	}
	if !s.flow.admit(quotaKey{c.region, c.action, c.account}, s.now()) {
		return outcome{err: errThrottlingUser}
	}
	if !s.qps.allow(c.action, s.now()) {
		return outcome{err: errThrottlingUser}
	}
	f, delay := s.rollFault()
	if f == faultDrop {
		return outcome{fault: f}
	}
	if apiErr := f.answer(); apiErr != nil {
		return outcome{err: apiErr, fault: f}
	}
	body, apiErr := actions[c.action](s, c)
	return outcome{body: body, err: apiErr, fault: f, slowDelay: delay}
}

// checkCommon checks the common parameters that do not need the key.
func (s *Sim) checkCommon(c *call) *apiError {
	p := c.params
	if f := p["Format"]; f != "" && !strings.EqualFold(f, "JSON") {
		return errUnsupportedFormat
	}
	switch v := p["Version"]; {
	case v == "":
		return missing("Version")
	case v != apiVersion:
		return errInvalidVersion
	}
	if c.action == "" {
		return missing("Action")
	}
	if _, ok := actions[c.action]; !ok {
		return errActionNotFound
	}
	return nil
}

// authenticate checks the signature parameters, the key, the signature,
// the SecurityToken and the nonce, in that order: a nonce is spent only by a
// correctly signed call, so a forged request cannot burn it.
func (s *Sim) authenticate(method string, c *call) *apiError {
	p := c.params
	for _, name := range []string{"AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"} {
		if p[name] == "" {
			if name == "Signature" {
				return errIncompleteSignature
			}
			return missing(name)
		}
	}
	if p["SignatureMethod"] != "HMAC-SHA1" || p["SignatureVersion"] != "1.0" || p["SignatureType"] != "" {
		return errIncompleteSignature
	}
	now := s.now()
	ts, err := time.Parse(timestampLayout, p["Timestamp"])
	if err != nil {
		return errTimeStampFormat
	}
	if d := now.Sub(ts); d > timestampSkew || d < -timestampSkew {
		return errTimeStampExpired
	}
	key, ok := s.keys.lookup(p["AccessKeyId"])
	if !ok {
		return errAccessKeyNotFound
	}
	if !key.active {
		return errAccessKeyInactive
	}
	sts := StringToSign(method, p)
	if !signatureEqual(signString(sts, key.secret), p["Signature"]) {
		return signatureMismatch(sts)
	}
	if apiErr := s.keys.checkToken(p["AccessKeyId"], key, p["SecurityToken"], now); apiErr != nil {
		return apiErr
	}
	if !s.nonces.use(p["AccessKeyId"]+"\x00"+p["SignatureNonce"], now) {
		return errNonceUsed
	}
	c.account = key.account
	c.rec.Account = key.account
	return nil
}

type errorBody struct {
	RequestId string
	HostId    string
	Code      string
	Message   string
	Recommend string
}

func (s *Sim) write(w http.ResponseWriter, c *call, out outcome) {
	status, body := http.StatusOK, out.body
	if out.err != nil {
		status = out.err.status
		c.rec.Code = out.err.code
		body = errorBody{
			RequestId: c.rec.RequestID,
			HostId:    hostID,
			Code:      out.err.code,
			Message:   out.err.message,
			Recommend: "https://api.aliyun.com/troubleshoot?q=" + out.err.code + "&product=Slb&requestId=" + c.rec.RequestID,
		}
	}
	c.rec.HTTPStatus = status
	b, err := json.Marshal(body)
	if err != nil { // the response types are plain structs; cannot happen
		b = []byte(`{}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("x-acs-request-id", c.rec.RequestID)
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client may be gone; nothing to do about it
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	// Not hijackable (HTTP/2, a recorder): abort the handler, which the
	// server turns into a reset stream or a closed connection.
	panic(http.ErrAbortHandler)
}

// finish ends the call's progress, logs and records it.
func (s *Sim) finish(c *call, leave func()) {
	c.rec.End = s.now()
	leave()
	s.log.record(c.rec)
	if lg := s.cfg.Logger; lg != nil {
		level := zapcore.DebugLevel
		if s.cfg.LogCallsAtInfo {
			level = zapcore.InfoLevel
		}
		if ce := lg.Check(level, "slb call"); ce != nil {
			ce.Write(
				zap.String("action", c.rec.Action),
				zap.String("region_id", c.rec.RegionID),
				zap.String("vserver_group_id", c.rec.GroupID),
				zap.String("request_id", c.rec.RequestID),
				zap.String("access_key_id", c.rec.AccessKeyID),
				zap.String("account", c.rec.Account),
				zap.String("code", c.rec.Code),
				zap.Int("http_status", c.rec.HTTPStatus),
				zap.Int("servers", c.rec.Servers),
				zap.Int("removed", c.rec.Removed),
				zap.String("fault", c.rec.Fault),
				zap.Bool("overlap", c.rec.Overlap),
				zap.Duration("took", c.rec.End.Sub(c.rec.Start)),
			)
		}
	}
	if hook := s.cfg.OnCallEnd; hook != nil {
		hook(c.rec)
	}
}

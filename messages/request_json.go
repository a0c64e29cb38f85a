package messages

import (
	"fmt"
	"strconv"
	"time"
)

// MarshalJSON encodes r with the field names of its struct tags (so
// encoding/json reads it back unchanged), backend_servers as [] rather than
// null when empty, and the deadline in UTC with full precision. It does not
// validate: Publish does.
func (r DrainRequest) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 160+len(r.Reason)+len(r.Source)+48*len(r.BackendServers))
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	b = append(b, `,"request_id":`...)
	b = appendString(b, r.RequestID)
	b = append(b, `,"region_id":`...)
	b = appendString(b, r.RegionID)
	b = append(b, `,"vserver_group_id":`...)
	b = appendString(b, r.VServerGroupID)
	b = append(b, `,"backend_servers":`...)
	b = appendServers(b, r.BackendServers)
	if r.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, r.Reason)
	}
	if r.Source != "" {
		b = append(b, `,"source":`...)
		b = appendString(b, r.Source)
	}
	if r.Deadline != nil {
		b = append(b, `,"deadline":`...)
		var err error
		if b, err = appendTime(b, *r.Deadline, time.RFC3339Nano); err != nil {
			return nil, fmt.Errorf("encode drain request %q: deadline: %w", r.RequestID, err)
		}
	}
	return append(b, '}'), nil
}

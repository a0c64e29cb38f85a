package worker

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// pinIDHeader carries, on each delivery of a consumer with a pinned
// priority group, the id the server pinned the receiving client under.
const pinIDHeader = "Nats-Pin-Id"

// Role says whether this replica is the one the consumer's priority group
// pins (the one that drains), a standby, or not known yet (no delivery has
// told it its pin id, or no priority group is configured).
type Role string

const (
	RoleActive  Role = "active"
	RoleStandby Role = "standby"
	RoleUnknown Role = "unknown"
)

// pinTracker follows the pin: the id deliveries carry to this replica, and
// the id the consumer says is pinned.
type pinTracker struct {
	mu     sync.Mutex
	mine   string // from the latest delivery
	pinned string // from the latest consumer info; "" when none is pinned
	known  bool   // pinned was read at least once
}

// delivered records the pin id of a delivery: the server delivers only to
// the pinned client, so this replica holds the pin now (until the consumer's
// info says otherwise).
func (p *pinTracker) delivered(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mine, p.pinned, p.known = id, id, true
}

// observed records the consumer's pinned client from its info.
func (p *pinTracker) observed(info *jetstream.ConsumerInfo, group string) {
	pinned := ""
	for _, g := range info.PriorityGroups {
		if g.Group == group {
			pinned = g.PinnedClientID
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pinned, p.known = pinned, true
}

func (p *pinTracker) role() Role {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.known || p.mine == "":
		return RoleUnknown
	case p.mine == p.pinned:
		return RoleActive
	}
	return RoleStandby
}

// holdsPin says whether the consumer last said this replica is pinned.
func (p *pinTracker) holdsPin() bool { return p.role() == RoleActive }

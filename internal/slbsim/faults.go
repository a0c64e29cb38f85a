package slbsim

import "time"

type fault int

const (
	noFault fault = iota
	faultDrop
	faultSlow
	faultThrottling
	faultServiceUnavailable
	faultSystemBusy
)

// String is the fault's name in the call log (Call.Fault).
func (f fault) String() string {
	switch f {
	case faultDrop:
		return "Drop"
	case faultSlow:
		return "Slow"
	case faultThrottling:
		return CodeThrottling
	case faultServiceUnavailable:
		return CodeServiceUnavailable
	case faultSystemBusy:
		return CodeSystemBusy
	}
	return ""
}

// rollFault draws the fault of one call, if any, and the delay of a Slow one.
// One draw against cumulative thresholds keeps each probability exact.
func (s *Sim) rollFault() (fault, time.Duration) {
	s.knobsMu.RLock()
	f := s.faults
	s.knobsMu.RUnlock()
	if f.Drop <= 0 && f.Slow <= 0 && f.Throttling <= 0 && f.ServiceUnavailable <= 0 && f.SystemBusy <= 0 {
		return noFault, 0
	}
	x := s.float64()
	for _, c := range []struct {
		p float64
		f fault
	}{
		{f.Drop, faultDrop},
		{f.Slow, faultSlow},
		{f.Throttling, faultThrottling},
		{f.ServiceUnavailable, faultServiceUnavailable},
		{f.SystemBusy, faultSystemBusy},
	} {
		if c.p <= 0 {
			continue
		}
		if x < c.p {
			delay := f.SlowDelay
			if delay <= 0 {
				delay = defaultSlowDelay
			}
			return c.f, delay
		}
		x -= c.p
	}
	return noFault, 0
}

// answer is the error a fault answers with (nil for Drop, Slow and none).
func (f fault) answer() *apiError {
	switch f {
	case faultThrottling:
		return errThrottling
	case faultServiceUnavailable:
		return errServiceUnavailable
	case faultSystemBusy:
		return errSystemBusy
	}
	return nil
}

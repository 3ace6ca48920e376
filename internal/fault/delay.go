package fault

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/profile"
)

func init() { Register(profile.FaultDelay, newDelay) }

// Delay forwards the request after (when: before, the default) or before (when: after)
// waiting a fixed delay, or a random one in [delay, delay_max].
type Delay struct {
	min, max time.Duration
	after    bool
}

func newDelay(spec profile.Fault) (Fault, error) {
	d := &Delay{min: spec.Delay.D(), max: spec.DelayMax.D()}
	switch spec.When {
	case "", "before":
	case "after":
		d.after = true
	default:
		return nil, fmt.Errorf("when %q: want before or after", spec.When)
	}
	if d.max != 0 && d.max < d.min {
		return nil, fmt.Errorf("delay_max %v is below delay %v", d.max, d.min)
	}
	if d.min <= 0 && d.max <= 0 {
		return nil, fmt.Errorf("delay: want a positive delay")
	}
	return d, nil
}

// Duration returns the delay for a decision's random number r in [0, 1).
func (d *Delay) Duration(r float64) time.Duration {
	if d.max <= d.min {
		return d.min
	}
	return d.min + time.Duration(r*float64(d.max-d.min+1))
}

// Apply waits and forwards. A wait cut short by shutdown still forwards.
func (d *Delay) Apply(x *Exchange) {
	wait := d.Duration(x.Float())
	if !d.after {
		if !x.Host.Wait(wait) {
			x.Err = "delay cut short by shutdown"
		}
	}
	if err := x.Host.Forward(x); err != nil {
		writeError(x, fasthttp.StatusBadGateway, 0, "", BodySeed000, "bad_gateway", "Upstream unreachable")
		return
	}
	if d.after {
		if !x.Host.Wait(wait) {
			x.Err = "delay cut short by shutdown"
		}
	}
}

package analysis

import "fmt"

func init() { register(CheckAmplification, newAmplificationCheck) }

// amplificationCheck: attempts per operation above the allowed factor, overall (all
// attempts / all operations, against amplification) and during fault windows (attempts
// sent in seconds in which the proxy injected at least one fault / operations started in
// those seconds, against fault_window_amplification). At most two violations: one per
// scope over its factor.
type amplificationCheck struct {
	checkBase
	factor      float64
	faultFactor float64
	// results, kept for the metrics
	overall, faults float64
}

func newAmplificationCheck(cfg *Config) checker {
	c := &amplificationCheck{
		checkBase:   newBase(cfg, CheckAmplification, "Keeps retry amplification bounded"),
		factor:      cfg.Amplification,
		faultFactor: cfg.FaultWindowAmplification,
	}
	c.params["amplification"] = cfg.Amplification
	c.params["fault_window_amplification"] = cfg.FaultWindowAmplification
	c.summary = fmt.Sprintf("attempts per operation at most %g overall and %g during fault windows",
		cfg.Amplification, cfg.FaultWindowAmplification)
	return c
}

func (c *amplificationCheck) base() *checkBase { return &c.checkBase }
func (c *amplificationCheck) hooks() hookSet   { return hookSet{} }

func (c *amplificationCheck) attempt(*engine, *opState, *attempt) {}
func (c *amplificationCheck) opDone(*engine, *opState)            {}

func (c *amplificationCheck) finish(e *engine) {
	if e.totals.Operations > 0 {
		c.overall = float64(e.totals.Attempts) / float64(e.totals.Operations)
	}
	if e.faultOp > 0 {
		c.faults = float64(e.faultAt) / float64(e.faultOp)
	}
	if c.overall > c.factor {
		c.add(Violation{
			Message: fmt.Sprintf("%.2f attempts per operation (%d attempts, %d operations)",
				c.overall, e.totals.Attempts, e.totals.Operations),
			Expected: fmt.Sprintf("at most %g attempts per operation", c.factor),
		})
	}
	if c.faults > c.faultFactor {
		c.add(Violation{
			Message: fmt.Sprintf("%.2f attempts per operation during fault windows (%d attempts, %d operations started)",
				c.faults, e.faultAt, e.faultOp),
			Expected: fmt.Sprintf("at most %g attempts per operation while faults are injected", c.faultFactor),
		})
	}
}

package analysis

import (
	"fmt"
	"sort"
	"time"
)

func init() { register(CheckJitter, newJitterCheck) }

// jitterCheck: retries of many operations after the same fault bunched at identical
// delays (a synchronized retry storm). The first-retry delay of every operation whose
// first attempt failed without a Retry-After (from that attempt's response to the second
// attempt) is grouped by the fault that caused it: the rule and the status. A group of at
// least jitter_min_samples delays whose spread (the interquartile range, p75 - p25) is
// below jitter_min_spread is one violation. The interquartile range ignores the tail that
// scheduling delays add to a client that waits a fixed time, and a randomized backoff
// (uniform over [base, 2·base)) spreads its middle half over base/2. Immediate retries are a zero-spread group too, so a client without any
// delay fails jitter as well as backoff.
type jitterCheck struct {
	checkBase
	minSamples int
	minSpread  int64
	groups     map[jitterKey]*jitterGroup
}

type jitterKey struct {
	rule   string
	status int32
}

type jitterGroup struct {
	h       *hist
	samples []jitterSample
}

type jitterSample struct {
	client, op string
	refs       []AttemptRef
}

// maxJitterGroups bounds the groups (a journal with endless distinct rule names cannot
// grow the memory without bound); delays of further faults are not grouped.
const maxJitterGroups = 1024

func newJitterCheck(cfg *Config) checker {
	c := &jitterCheck{
		checkBase:  newBase(cfg, CheckJitter, "Spreads retries with jitter"),
		minSamples: cfg.JitterMinSamples,
		minSpread:  int64(cfg.JitterMinSpread),
		groups:     map[jitterKey]*jitterGroup{},
	}
	c.params["min_samples"] = cfg.JitterMinSamples
	c.params["min_spread"] = cfg.JitterMinSpread.String()
	c.summary = fmt.Sprintf("first-retry delays after the same fault spread by at least %v (p75-p25, groups of %d or more)",
		cfg.JitterMinSpread, cfg.JitterMinSamples)
	return c
}

func (c *jitterCheck) base() *checkBase { return &c.checkBase }
func (c *jitterCheck) hooks() hookSet   { return hookSet{opDone: true} }

func (c *jitterCheck) attempt(*engine, *opState, *attempt) {}

func (c *jitterCheck) opDone(e *engine, op *opState) {
	if len(op.attempts) < 2 {
		return
	}
	f, r := &op.attempts[0], &op.attempts[1]
	if f.ra >= 0 || (f.status >= 200 && f.status < 300) {
		return
	}
	delay := r.time - f.end()
	if delay < 0 {
		return
	}
	k := jitterKey{f.at.rule, f.status}
	g := c.groups[k]
	if g == nil {
		if len(c.groups) >= maxJitterGroups {
			return
		}
		g = &jitterGroup{h: newHist()}
		c.groups[k] = g
	}
	g.h.add(delay)
	if len(g.samples) < 3 {
		g.samples = append(g.samples, jitterSample{op.client.id, op.op, []AttemptRef{e.ref(op, f), e.ref(op, r)}})
	}
}

func (c *jitterCheck) finish(e *engine) {
	keys := make([]jitterKey, 0, len(c.groups))
	for k := range c.groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].rule != keys[j].rule {
			return keys[i].rule < keys[j].rule
		}
		return keys[i].status < keys[j].status
	})
	for _, k := range keys {
		g := c.groups[k]
		if int(g.h.n) < c.minSamples {
			continue
		}
		p25, p50, p75 := g.h.quantile(0.25), g.h.quantile(0.50), g.h.quantile(0.75)
		spread := int64(p75 - p25)
		if spread >= c.minSpread {
			continue
		}
		rule := k.rule
		if rule == "" {
			rule = "(upstream)"
		}
		v := Violation{
			Message: fmt.Sprintf("%d operations retried a %d from rule %s after the same delay: p25 %s, median %s, p75 %s (spread %s)",
				g.h.n, k.status, rule, ms(int64(p25)), ms(int64(p50)), ms(int64(p75)), ms(spread)),
			Expected: fmt.Sprintf("first-retry delays spread by at least %v (randomized backoff)", time.Duration(c.minSpread)),
		}
		if len(g.samples) > 0 {
			v.Client, v.Op = g.samples[0].client, g.samples[0].op
		}
		for _, s := range g.samples {
			v.Attempts = append(v.Attempts, s.refs...)
		}
		c.add(v)
	}
}

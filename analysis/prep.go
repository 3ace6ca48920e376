package analysis

import (
	"hash/maphash"

	"github.com/retrylab/retrylab/internal/journal"
)

// item is a journal record with what the engine needs of it computed in advance, by the
// source's reader goroutine, so that the engine's single goroutine does only the work
// that depends on the order of records: hashing, string building and pattern matching
// happen beside it.
type item struct {
	journal.Record
	key    string // correlation key of the operation
	h      uint64 // maphash of key
	ch     uint64 // maphash of Client
	idemH  uint64 // maphash of IdemKey, 0 when there is none
	bodyH  uint64 // maphash of BodyHash
	limits uint64 // bit i set: Config.RateLimits[i] matches Method and Path (i < 64)
	act    uint8  // Action as an action* code
}

// Action codes: the actions the engine branches on, and the rest.
const (
	actOther uint8 = iota // an injected fault
	actForward
	actRateLimit
	actReject
	actTruncate
	actSlowBody
	actNone // "" (journals of older writers)
)

func actionCode(a string) uint8 {
	switch a {
	case journal.ActionForward:
		return actForward
	case journal.ActionRateLimit:
		return actRateLimit
	case journal.ActionReject:
		return actReject
	case journal.ActionTruncate:
		return actTruncate
	case journal.ActionSlowBody:
		return actSlowBody
	case "":
		return actNone
	}
	return actOther
}

// isFaultCode reports whether an attempt with action code act was answered by a fault rule.
func isFaultCode(act uint8) bool {
	return act == actOther || act == actTruncate || act == actSlowBody
}

// prep computes an item's derived fields. It only reads its configuration, so the readers
// of several sources share one.
type prep struct {
	seed        maphash.Seed
	correlation string
	limits      []rateLimitMatch
}

// rateLimitMatch is the part of a rate limit that selects requests.
type rateLimitMatch struct{ method, path string }

func newPrep(cfg *Config, seed maphash.Seed) *prep {
	p := &prep{seed: seed, correlation: cfg.Correlation}
	for _, l := range cfg.RateLimits {
		p.limits = append(p.limits, rateLimitMatch{l.Method, l.Path})
	}
	return p
}

// correlate returns the operation key of a record.
func (p *prep) correlate(r *journal.Record) string {
	switch p.correlation {
	case CorrelateHeader:
		if r.Op != "" {
			return r.Op
		}
	case CorrelateIdemKey:
		if r.IdemKey != "" {
			return "k\x00" + r.Client + "\x00" + r.IdemKey
		}
	}
	return "f\x00" + r.Client + "\x00" + r.Method + "\x00" + r.Path + "\x00" + r.BodyHash
}

// fill sets it's derived fields from its Record.
func (p *prep) fill(it *item) {
	r := &it.Record
	it.key = p.correlate(r)
	it.h = maphash.String(p.seed, it.key)
	it.ch = maphash.String(p.seed, r.Client)
	it.idemH = 0
	if r.IdemKey != "" {
		it.idemH = maphash.String(p.seed, r.IdemKey)
	}
	it.bodyH = maphash.String(p.seed, r.BodyHash)
	it.limits = 0
	for i := range p.limits {
		if i == 64 {
			break
		}
		l := &p.limits[i]
		if (l.method == "" || l.method == r.Method) && matchPath(l.path, r.Path) {
			it.limits |= 1 << i
		}
	}
	it.act = actionCode(r.Action)
}

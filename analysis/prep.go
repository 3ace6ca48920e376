package analysis

import (
	"hash/maphash"
	"math"
	"strings"

	"github.com/retrylab/retrylab/internal/journal"
)

// item is the part of a journal record the engine reads, with what it needs computed in
// advance by the parser that decoded it, so that the engine's single goroutine does only
// the work that depends on the order of records: hashing, interning and pattern matching
// happen beside it. It leaves out the fields no check reads (mono, upstream status, error,
// body, the raw Retry-After), and the values records share (client, method, rule, action)
// are one pointer to their attrs: the engine reads items seconds after they were written
// (the reorder window), so every byte of an item costs.
type item struct {
	seq      uint64
	time     int64  // Record.Time
	dur      int64  // Record.DurNs
	ra       int64  // Record.RetryAfterMs
	h, h2    uint64 // the operation's correlation key, hashed with two seeds (see keyHashes)
	idemH    uint64 // maphash of idemKey (odd), 0 when there is none
	bodyH    uint64 // maphash of Record.BodyHash, 0 when there is no idemKey
	limits   uint64 // bit i set: Config.RateLimits[i] matches method and path (i < 64)
	at       *attrs
	attempt  int32
	status   int32
	act      uint8 // at.act, at hand
	executed bool
	replayed bool
	op       string
	path     string
	idemKey  string
}

// attrs are the values of a record that many records share, with what is derived from
// them. A converter hands out one attrs per combination it sees (see converter.attrs),
// never changed after; only the engine's cache cl is written later, by the engine alone.
type attrs struct {
	client, method, rule, action string
	ch                           uint64 // maphash of client
	act                          uint8  // action as an action* code
	cl                           *clientState
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

// prep computes an item's derived fields. It only reads its configuration, so the parsers
// of every source share one.
type prep struct {
	seed, seed2 maphash.Seed
	correlation string
	limits      []rateLimitMatch
}

// rateLimitMatch is the part of a rate limit that selects requests.
type rateLimitMatch struct{ method, path string }

func newPrep(cfg *Config, seed maphash.Seed) *prep {
	p := &prep{seed: seed, seed2: maphash.MakeSeed(), correlation: cfg.Correlation}
	for _, l := range cfg.RateLimits {
		p.limits = append(p.limits, rateLimitMatch{l.Method, l.Path})
	}
	return p
}

// keyHashes returns the operation a record belongs to as two 64-bit hashes of its
// correlation key, with independent seeds: Record.Op in header mode; in idempotency_key
// mode the client and the key; else (and when those are empty) the fingerprint of client,
// method, path and body hash. The engine tells operations apart by the 128 bits alone:
// two keys share them with a probability of about n²/2^129 for n operations (about 10^-21
// for a billion), and the key strings need be neither built nor kept.
func (p *prep) keyHashes(r *journal.Record) (uint64, uint64) {
	switch p.correlation {
	case CorrelateHeader:
		if r.Op != "" {
			return maphash.String(p.seed, r.Op), maphash.String(p.seed2, r.Op)
		}
	case CorrelateIdemKey:
		if r.IdemKey != "" {
			return p.joined(p.seed, "k", r.Client, r.IdemKey), p.joined(p.seed2, "k", r.Client, r.IdemKey)
		}
	}
	return p.joined(p.seed, "f", r.Client, r.Method, r.Path, r.BodyHash),
		p.joined(p.seed2, "f", r.Client, r.Method, r.Path, r.BodyHash)
}

// joined hashes the parts as one string, each after a NUL but the first: the parts are
// not concatenated in memory.
func (p *prep) joined(seed maphash.Seed, parts ...string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for i, s := range parts {
		if i > 0 {
			h.WriteByte(0)
		}
		h.WriteString(s)
	}
	return h.Sum64()
}

// converter turns records into items for one goroutine. The strings of the records it
// gets point into the journal's buffer (see journal.ScanInto), so it copies what items
// keep: an operation's id and its idempotency key into blocks of its own, repeated paths
// once per slot of its interner, and the values many records share (client, method, rule,
// action) once per attrs.
type converter struct {
	p     *prep
	cache [attrsSlots]*attrs
	all   map[attrsKey]*attrs // every attrs made, behind the cache (bounded: see attrs)
	paths journal.Interner
	arena journal.Arena
}

// attrsKey is what an attrs stands for.
type attrsKey struct{ client, method, rule, action string }

const (
	attrsSlots = 4096    // the direct-mapped attrs cache of a converter
	attrsMax   = 1 << 16 // attrs a converter remembers behind its cache before it starts over
)

func (p *prep) newConverter() *converter { return &converter{p: p} }

// newConv is journal.ScanInto's converter factory: one converter per parser.
func (p *prep) newConv() func(*journal.Record, *item) {
	c := p.newConverter()
	return func(r *journal.Record, it *item) { c.fill(it, r) }
}

// attrs returns the attrs of r's client, method, rule and action: from the cache when
// they were seen last in its slot, else the one made for them before, else a new one
// holding copies. One attrs per combination lets the engine find a client's state once.
func (c *converter) attrs(r *journal.Record) *attrs {
	ch, ct := journal.StringWords(r.Client)
	ah, _ := journal.StringWords(r.Action)
	k := ch ^ ct<<1 ^ ah<<2 ^ uint64(len(r.Client)) ^ uint64(len(r.Action))<<8 ^ uint64(len(r.Rule))<<16 ^ uint64(len(r.Method))<<24
	slot := &c.cache[(k*0x9E3779B97F4A7C15)>>52%attrsSlots]
	if a := *slot; a != nil && a.client == r.Client && a.action == r.Action && a.rule == r.Rule && a.method == r.Method {
		return a
	}
	key := attrsKey{r.Client, r.Method, r.Rule, r.Action} // views of the buffer: a lookup only
	a := c.all[key]
	if a == nil {
		a = &attrs{client: strings.Clone(r.Client), method: strings.Clone(r.Method), rule: strings.Clone(r.Rule),
			action: strings.Clone(r.Action), ch: maphash.String(c.p.seed, r.Client), act: actionCode(r.Action)}
		if c.all == nil || len(c.all) >= attrsMax {
			c.all = map[attrsKey]*attrs{}
		}
		c.all[attrsKey{a.client, a.method, a.rule, a.action}] = a
	}
	*slot = a
	return a
}

// fill sets it from r.
func (c *converter) fill(it *item, r *journal.Record) {
	p := c.p
	h, h2 := p.keyHashes(r)
	at := c.attrs(r)
	*it = item{
		seq: r.Seq, time: r.Time, dur: r.DurNs, ra: r.RetryAfterMs,
		h: h, h2: h2, at: at,
		attempt: clamp32(r.Attempt), status: clamp32(r.Status), act: at.act,
		executed: r.Executed, replayed: r.Replayed,
		op: c.arena.Keep(r.Op), path: c.paths.Intern(r.Path, &c.arena), idemKey: c.arena.Keep(r.IdemKey),
	}
	if r.IdemKey != "" { // the key and body hashes serve the idempotency-key findings only
		it.idemH = maphash.String(p.seed, r.IdemKey) | 1 // 0 is "no key"
		it.bodyH = maphash.String(p.seed, r.BodyHash)
	}
	for i := range p.limits {
		if i == 64 {
			break
		}
		l := &p.limits[i]
		if (l.method == "" || l.method == r.Method) && matchPath(l.path, r.Path) {
			it.limits |= 1 << i
		}
	}
}

// clamp32 narrows a journal's int to int32, saturating (journals are untrusted input).
func clamp32(v int) int32 {
	return int32(max(min(v, math.MaxInt32), math.MinInt32))
}

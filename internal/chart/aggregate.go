package chart

import (
	"cmp"
	"math"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// outcome is how an attempt ended, as the charts color it.
type outcome uint8

const (
	outOK       outcome = iota // 2xx
	outLimited                 // rejected by the proxy's rate limiter (action rate_limit)
	outInjected                // injected 5xx (action respond, status >= 500)
	outLost                    // forwarded, executed, response lost (action lose_response)
	outOther                   // anything else: 4xx, resets, hangs, injected non-5xx
	numOutcomes
)

var outcomeLabels = [numOutcomes]string{"2xx", "limiter 429", "injected 5xx", "lost response", "other"}

func classify(r *journal.Record) outcome {
	switch {
	case r.Action == journal.ActionRateLimit:
		return outLimited
	case r.Action == journal.ActionLoseResponse:
		return outLost
	case r.Action == journal.ActionRespond && r.Status >= 500:
		return outInjected
	case r.Status >= 200 && r.Status < 300:
		return outOK
	default:
		return outOther
	}
}

// isFault reports whether a fault rule decided the attempt.
func isFault(r *journal.Record) bool {
	switch r.Action {
	case journal.ActionRespond, journal.ActionLoseResponse, journal.ActionDelay, journal.ActionReset,
		journal.ActionHang, journal.ActionTruncate, journal.ActionSlowBody:
		return true
	}
	return false
}

// Bounds on what the aggregator keeps, whatever the journal's size.
const (
	sampleAttempts   = 4000 // latency scatter points kept over all outcomes (proportional)
	sampleRare       = 300  // latency scatter points kept per outcome, so rare outcomes show
	sampleOps        = 2500 // end-to-end latency points kept
	sampleRetryAfter = 2000 // Retry-After points kept per class (honored, too early)
	sampleVegeta     = 2500 // client-observed latency points kept
	maxClients       = 256  // clients tracked per second; the rest are counted in totals only
	maxAttemptsBin   = 64   // attempts-per-operation histogram: the last bin is "64 or more"
	secondSlack      = 120  // seconds a record may arrive out of time order and still be placed
	maxHistSlots     = 2400 // latency histogram slots kept (each ≈ 1.8 KB)
	sweepEvery       = 10 * time.Second
	opHorizonExtra   = 30 * time.Second
)

// secStats aggregates one second of the run.
type secStats struct {
	first, retry [numOutcomes]int32
	faults       int32
	maxMs        [numOutcomes]float32
}

// opState follows one operation until it is finalized.
type opState struct {
	start    int64 // first attempt's arrival, Unix ns
	lastSeen int64 // last attempt's arrival
	lastEnd  int64 // last attempt's end
	raEnd    int64 // end of the attempt that announced the Retry-After below
	raMs     int64 // Retry-After announced to the last attempt, NoRetryAfter if none
	attempts int32
	epoch    int64  // sweep epoch of lastSeen: the op is listed in aggregator.epochs[epoch]
	key      string // key in aggregator.ops
}

// limitRule is one rate limit the clients chart compares traffic with.
type limitRule struct {
	title  string
	method string
	path   string
	limits []limitPair // published limits (several when clients differ), none = unknown
	all    bool        // matches every request
}

// limitPair is a published sustained limit and burst, requests per second.
type limitPair struct{ limit, burst float64 }

func (l *limitRule) matches(r *journal.Record) bool {
	if l.all {
		return true
	}
	if l.method != "" && !strings.EqualFold(l.method, r.Method) {
		return false
	}
	return pathMatches(l.path, r.Path)
}

// pathMatches matches a request path against a rule's path: "" matches all, a pattern with
// glob characters is matched with path.Match, anything else is a prefix.
func pathMatches(pattern, p string) bool {
	if pattern == "" {
		return true
	}
	if strings.ContainsAny(pattern, "*?[") {
		ok, err := path.Match(pattern, p)
		return err == nil && ok
	}
	return strings.HasPrefix(p, pattern)
}

// clientSeries is one client's per-second attempt counts, one slice per limit rule.
type clientSeries struct {
	hash   string
	total  int64
	perSec [][]int32
}

// aggregator reduces a journal stream, in one pass and bounded memory, to what the charts draw.
type aggregator struct {
	rng         *rand.Rand
	correlation string
	tolerance   int64 // Retry-After tolerance, ns
	horizon     int64 // an operation silent this long is finalized, ns

	records int64
	origin  int64 // Time of the first record; sample x values are relative to it
	baseSec int64 // Unix second of secs[0]
	minTime int64
	secs    []secStats

	// Latency histograms per slot of histW seconds (a power of two): per attempt, and end
	// to end per operation by the second it started. Slots double in width when there
	// would be more than maxHistSlots, so a day-long run costs what a 40-minute one does.
	histW      int
	attH, e2eH []*logHist
	hasTimes   bool

	ops       map[string]*opState
	epochs    map[int64][]*opState // ops by the sweep epoch they were last seen in
	free      []*opState           // finalized states for reuse: the GC sees no churn
	minEpoch  int64                // oldest epoch that may still hold open ops
	watermark int64

	attemptsHist [maxAttemptsBin + 1]int64 // index = attempts per operation
	opsFinal     int64

	attAll     *reservoir              // all attempts, tagged by outcome
	attSamples [numOutcomes]*reservoir // per outcome, small
	attCount   [numOutcomes]int64
	e2eSamples *reservoir
	raHonored  *reservoir
	raEarly    *reservoir

	rules      []limitRule
	clients    map[string]*clientSeries
	untracked  int64 // attempts from clients beyond maxClients
	vegeta     *reservoir
	vegetaMin  int64
	vegetaSeen bool
}

func newAggregator(in Input, seed int64) *aggregator {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	a := &aggregator{
		rng:        rng,
		tolerance:  int64(profile.DefaultRetryAfterTolerance),
		horizon:    int64(profile.DefaultMaxRetrySpan + opHorizonExtra),
		ops:        make(map[string]*opState),
		epochs:     make(map[int64][]*opState),
		minEpoch:   math.MaxInt64,
		clients:    make(map[string]*clientSeries),
		e2eSamples: newReservoir(sampleOps, rng),
		raHonored:  newReservoir(sampleRetryAfter, rng),
		raEarly:    newReservoir(sampleRetryAfter, rng),
		vegeta:     newReservoir(sampleVegeta, rng),
		minTime:    math.MaxInt64,
		histW:      1,
		vegetaMin:  math.MaxInt64,
	}
	a.attAll = newReservoir(sampleAttempts, rng)
	for i := range a.attSamples {
		a.attSamples[i] = newReservoir(sampleRare, rng)
	}
	if p := in.Profile; p != nil {
		a.correlation = p.Analysis.Correlation
		if t := p.Analysis.RetryAfterTolerance; t > 0 {
			a.tolerance = int64(t)
		}
		if s := p.Analysis.MaxRetrySpan; s > 0 {
			a.horizon = int64(s.D() + opHorizonExtra)
		}
	}
	a.rules = limitRules(in)
	return a
}

// limitRules returns the rate limits to compare client traffic with: the profile's
// rate_limits, else one rule over all traffic with the report's published limits.
func limitRules(in Input) []limitRule {
	var rules []limitRule
	if in.Profile != nil {
		for i, rl := range in.Profile.RateLimits {
			if len(rules) == maxLimitPanels {
				break
			}
			name := rl.Name
			if name == "" {
				name = "rate limit " + strconv.Itoa(i+1)
			}
			scope := strings.TrimSpace(strings.ToUpper(rl.Method) + " " + rl.Path)
			if scope == "" {
				scope = "all requests"
			}
			burst := rl.Burst.PerSecond()
			if burst == 0 {
				burst = rl.Limit.PerSecond()
			}
			r := limitRule{title: name + ": " + scope, method: rl.Method, path: rl.Path}
			if rl.Limit > 0 {
				r.limits = []limitPair{{rl.Limit.PerSecond(), burst}}
			}
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		r := limitRule{title: "all requests", all: true}
		if in.Report != nil {
			for _, c := range in.Report.Clients {
				if c.Limit <= 0 {
					continue
				}
				lp := limitPair{c.Limit, c.Burst}
				if lp.burst == 0 {
					lp.burst = lp.limit
				}
				if !slices.Contains(r.limits, lp) {
					r.limits = append(r.limits, lp)
				}
			}
			slices.SortFunc(r.limits, func(x, y limitPair) int { return cmp.Compare(x.limit, y.limit) })
		}
		rules = append(rules, r)
	}
	return rules
}

func (a *aggregator) opKey(r *journal.Record) string {
	switch {
	case a.correlation == profile.CorrelateIdemKey && r.IdemKey != "":
		return r.Client + "\x00" + r.IdemKey
	case a.correlation != profile.CorrelateFingerprint && r.Op != "":
		return r.Op
	default:
		return r.Method + " " + r.Path + " " + r.BodyHash
	}
}

// sec returns the stats of the second holding t (Unix ns), placing records up to
// secondSlack seconds older than the first one; older ones are clamped to the first slot.
func (a *aggregator) sec(t int64) (*secStats, int) {
	s := floorDiv(t, 1e9)
	if !a.hasTimes {
		a.hasTimes = true
		a.origin = t
		a.baseSec = s - secondSlack
	}
	i := int(s - a.baseSec)
	if i < 0 {
		i = 0
	}
	for i >= len(a.secs) {
		a.secs = append(a.secs, secStats{})
	}
	return &a.secs[i], i
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// add folds one attempt into the aggregates.
func (a *aggregator) add(r *journal.Record) {
	a.records++
	st, idx := a.sec(r.Time)
	if r.Time < a.minTime {
		a.minTime = r.Time
	}
	end := r.Time + max(r.DurNs, 0)
	oc := classify(r)
	key := a.opKey(r)
	op := a.ops[key]
	if op == nil {
		// Record strings are never reused by the journal readers, so the key is kept as is.
		op = a.newOp()
		*op = opState{start: r.Time, lastSeen: r.Time, raMs: journal.NoRetryAfter, key: key, epoch: math.MinInt64}
		a.ops[key] = op
	} else if op.raMs >= 0 {
		gap := r.Time - op.raEnd
		p := point{x: float64(op.raMs) / 1e3, y: float64(gap) / 1e9}
		if gap < op.raMs*1e6-a.tolerance {
			a.raEarly.add(p)
		} else {
			a.raHonored.add(p)
		}
	}
	op.attempts++
	retry := r.Attempt > 1 || (r.Attempt <= 0 && op.attempts > 1)
	if retry {
		st.retry[oc]++
	} else {
		st.first[oc]++
	}
	if r.Time < op.start {
		op.start = r.Time
	}
	if r.Time > op.lastSeen {
		op.lastSeen = r.Time
	}
	if e := floorDiv(op.lastSeen, int64(sweepEvery)); e > op.epoch {
		op.epoch = e
		a.epochs[e] = append(a.epochs[e], op)
		a.minEpoch = min(a.minEpoch, e)
	}
	if end > op.lastEnd {
		op.lastEnd = end
	}
	op.raMs, op.raEnd = r.RetryAfterMs, end
	if isFault(r) {
		st.faults++
	}
	ms := float64(r.DurNs) / 1e6
	if float32(ms) > st.maxMs[oc] {
		st.maxMs[oc] = float32(ms)
	}
	a.hist(&a.attH, idx).add(r.DurNs)
	pt := point{x: float64(r.Time - a.origin), y: ms, k: oc}
	a.attAll.add(pt)
	a.attSamples[oc].add(pt)
	a.attCount[oc]++

	a.addClient(r, idx)

	if r.Time > a.watermark {
		a.watermark = r.Time
		if floorDiv(a.watermark-a.horizon, int64(sweepEvery)) > a.minEpoch {
			a.sweep(a.watermark - a.horizon)
		}
	}
}

func (a *aggregator) addClient(r *journal.Record, idx int) {
	c := a.clients[r.Client]
	if c == nil {
		if len(a.clients) >= maxClients {
			a.untracked++
			return
		}
		c = &clientSeries{hash: r.Client, perSec: make([][]int32, len(a.rules))}
		a.clients[c.hash] = c
	}
	c.total++
	for i := range a.rules {
		if !a.rules[i].matches(r) {
			continue
		}
		s := c.perSec[i]
		for idx >= len(s) {
			s = append(s, 0)
		}
		s[idx]++
		c.perSec[i] = s
	}
}

// hist returns the histogram of hs for secs index idx, widening the slots when needed.
func (a *aggregator) hist(hs *[]*logHist, idx int) *logHist {
	slot := idx / a.histW
	for slot >= maxHistSlots {
		a.widenHists()
		slot = idx / a.histW
	}
	for slot >= len(*hs) {
		*hs = append(*hs, nil)
	}
	h := (*hs)[slot]
	if h == nil {
		h = new(logHist)
		(*hs)[slot] = h
	}
	return h
}

// widenHists doubles histW, merging the histograms of neighbouring slots.
func (a *aggregator) widenHists() {
	for _, hs := range []*[]*logHist{&a.attH, &a.e2eH} {
		old := *hs
		merged := old[:0:0]
		for i := 0; i < len(old); i += 2 {
			h := old[i]
			if i+1 < len(old) && old[i+1] != nil {
				if h == nil {
					h = new(logHist)
				}
				h.merge(old[i+1])
			}
			merged = append(merged, h)
		}
		*hs = merged
	}
	a.histW *= 2
}

// sweep finalizes the operations whose last attempt is in an epoch wholly before cutoff
// (Unix ns). An operation seen again later was listed again in a newer epoch and is skipped
// here. The cost is proportional to the attempts, not to the open operations, and the
// order is the journal's, so the samples are reproducible.
func (a *aggregator) sweep(cutoff int64) {
	last := floorDiv(cutoff, int64(sweepEvery)) // epochs < last end before cutoff
	for e := a.minEpoch; e < last && len(a.epochs) > 0; e++ {
		for _, op := range a.epochs[e] {
			if op.epoch != e {
				continue
			}
			a.finalize(op)
			delete(a.ops, op.key)
			*op = opState{}
			a.free = append(a.free, op)
		}
		delete(a.epochs, e)
		a.minEpoch = e + 1
	}
	if len(a.epochs) == 0 {
		a.minEpoch = math.MaxInt64
	}
}

func (a *aggregator) newOp() *opState {
	if n := len(a.free); n > 0 {
		op := a.free[n-1]
		a.free = a.free[:n-1]
		return op
	}
	return new(opState)
}

func (a *aggregator) finalize(op *opState) {
	a.opsFinal++
	n := int(op.attempts)
	if n > maxAttemptsBin {
		n = maxAttemptsBin
	}
	a.attemptsHist[n]++
	e2e := op.lastEnd - op.start
	_, idx := a.sec(op.start)
	a.hist(&a.e2eH, idx).add(e2e)
	a.e2eSamples.add(point{x: float64(op.start - a.origin), y: float64(e2e) / 1e6})
}

// finish finalizes every operation still open.
func (a *aggregator) finish() {
	if len(a.epochs) == 0 {
		return
	}
	maxEpoch := a.minEpoch
	for e := range a.epochs {
		maxEpoch = max(maxEpoch, e)
	}
	a.sweep((maxEpoch + 1) * int64(sweepEvery))
}

// addVegeta folds one client-observed result (start, latency) into the aggregates.
func (a *aggregator) addVegeta(start time.Time, lat time.Duration) {
	t := start.UnixNano()
	if !a.hasTimes {
		a.sec(t)
	}
	if t < a.vegetaMin {
		a.vegetaMin = t
	}
	a.vegetaSeen = true
	a.vegeta.add(point{x: float64(t - a.origin), y: float64(lat) / 1e6})
}

// t0 returns the Unix ns the charts' time axis starts at.
func (a *aggregator) t0() int64 {
	t := a.minTime
	if a.vegetaSeen && a.vegetaMin < t {
		t = a.vegetaMin
	}
	if t == math.MaxInt64 {
		return a.origin
	}
	return t
}

// firstSec returns the index in secs of the second holding t0 and the offset (s) of
// that second's start from t0 (<= 0).
func (a *aggregator) firstSec() (int, float64) {
	t0 := a.t0()
	s := floorDiv(t0, 1e9)
	i := int(s - a.baseSec)
	if i < 0 {
		i = 0
	}
	off := float64((a.baseSec+int64(i))*1e9-t0) / 1e9
	return i, off
}

// xOf converts a sample x (ns since origin) into seconds since t0.
func (a *aggregator) xOf(x float64) float64 {
	return (x - float64(a.t0()-a.origin)) / 1e9
}

// clientNames maps client hashes to their labels: the profile's names win over
// the report's.
func clientNames(in Input) map[string]string {
	names := make(map[string]string)
	if in.Report != nil {
		for _, c := range in.Report.Clients {
			if c.Name != "" {
				names[c.Client] = c.Name
			}
		}
	}
	if in.Profile != nil {
		for _, c := range in.Profile.Clients {
			if c.Name != "" && c.Key != "" {
				names[journal.HashKey(c.Key)] = c.Name
			}
		}
	}
	return names
}

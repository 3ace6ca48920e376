package analysis

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"os"
	"slices"
	"sort"
	"time"
	"unsafe"

	"github.com/retrylab/retrylab/internal/journal"
)

// attempt is the part of a journal record the checks need, kept while its operation is
// in flight.
type attempt struct {
	seq      uint64
	time     int64  // sent (request arrived at the proxy), Unix ns
	dur      int64  // time the proxy spent on it, ns
	ra       int64  // Retry-After in ms, journal.NoRetryAfter if none
	idemH    uint64 // item.idemH: the idempotency key's hash, 0 without one
	bodyH    uint64 // maphash of the body hash (0 without an idempotency key)
	src      int32  // index of the journal
	no       int32  // attempt number as the proxy counted it
	status   int32
	executed bool
	replayed bool
	act      uint8  // action code
	at       *attrs // rule and action
	idemKey  string
}

// end is when the attempt's response was sent.
func (a *attempt) end() int64 { return a.time + a.dur }

// retryAt is the earliest time a retry may be sent under the attempt's Retry-After.
func (a *attempt) retryAt() (int64, bool) {
	if a.ra < 0 {
		return 0, false
	}
	return a.end() + a.ra*int64(time.Millisecond), true
}

// opState is one operation in flight.
//
// Its fields are ordered by use: those that finding, listing and evicting an operation
// touch come first, in one cache line.
type opState struct {
	hash, h2     uint64   // item.h and item.h2: the operation's identity
	prev, next   *opState // eviction list, oldest activity first
	list         *opList  // the list op is on
	lastEnd      int64
	attempts     []attempt // sorted by time: inline, or spare once there is a retry
	maxNo        int       // highest attempt number the proxy gave this operation
	client       *clientState
	op           string // Record.Op of the first attempt
	method, path string
	limits       uint64 // item.limits of the first attempt
	inline       [1]attempt
	spare        []attempt // room for retries, kept when op is recycled
}

func (o *opState) first() *attempt { return &o.attempts[0] }
func (o *opState) last() *attempt  { return &o.attempts[len(o.attempts)-1] }

// add inserts the record's attempt in time order and returns it.
func (o *opState) add(r *item, src int) *attempt {
	a := attempt{
		seq: r.seq, time: r.time, dur: r.dur, ra: r.ra, idemH: r.idemH, bodyH: r.bodyH, src: int32(src),
		no: r.attempt, status: r.status, executed: r.executed, replayed: r.replayed,
		act: r.act, at: r.at, idemKey: r.idemKey,
	}
	if a.dur < 0 {
		a.dur = 0
	}
	if n := len(o.attempts); n == cap(o.attempts) && n < cap(o.spare) {
		o.spare = append(o.spare[:0], o.attempts...)
		o.attempts = o.spare
	}
	o.attempts = append(o.attempts, a)
	i := len(o.attempts) - 1
	for i > 0 && o.attempts[i-1].time > a.time {
		o.attempts[i] = o.attempts[i-1]
		i--
	}
	o.attempts[i] = a
	if e := a.end(); e > o.lastEnd {
		o.lastEnd = e
	}
	return &o.attempts[i]
}

// clientState is one client (API key hash).
type clientState struct {
	id          string
	hash        uint64 // mixes the client into per-client hash keys
	ops         int64
	attempts    int64
	rateLimited int64
	second      timeWindow // attempts in the last second, for the peak rate
	peak        int
	rate        []rateScope // rate_limit check state, one per configured limit
	block       retryBlock  // retry_after check state (client scope)
	limit       float64     // published sustained limit of the first matching scope
	burst       float64
}

// timeWindow holds the times of the attempts of a sliding window, oldest first.
type timeWindow struct {
	ts   []int64
	head int
}

// push adds t and drops the times that are no longer in (t-w, t]; it returns the number
// of attempts in the window ending at t.
func (w *timeWindow) push(t, width int64) int {
	if w.head > 1024 && w.head*2 > len(w.ts) {
		n := copy(w.ts, w.ts[w.head:])
		w.ts = w.ts[:n]
		w.head = 0
	}
	w.ts = append(w.ts, t)
	i := len(w.ts) - 1
	for i > w.head && w.ts[i-1] > t { // a late record: keep the window sorted
		w.ts[i] = w.ts[i-1]
		i--
	}
	w.ts[i] = t
	newest := w.ts[len(w.ts)-1]
	for w.head < len(w.ts) && w.ts[w.head] <= newest-width {
		w.head++
	}
	// count the attempts in (t-width, t]
	if i == len(w.ts)-1 {
		return len(w.ts) - w.head
	}
	n := 0
	for j := i; j >= w.head && w.ts[j] > t-width; j-- {
		n++
	}
	return n
}

// secStat counts one second's traffic for the fault-window amplification.
type secStat struct {
	sec      int64
	attempts int64
	newOps   int64
	faults   int64
}

const secRing = 128

// engine runs the checks over the merged, time-ordered records.
type engine struct {
	cfg     *Config
	names   []string
	checks  []checker
	attHook []checker
	opHook  []checker

	seed         maphash.Seed
	prep         *prep
	conv         *converter // for process
	cur          *item      // the record being processed, for the attempt hooks
	judgeSingle  bool       // operations of one attempt go through the opDone hooks too
	cutting      bool       // the final eviction of cut-short journals: open failures are cut
	dup          *duplicateCheck
	ops          *opTable // by maphash of the key; collisions go to opsCollided
	opsCollided  map[[2]uint64]*opState
	open         opList // operations that may still be retried, by last activity
	done         opList // operations whose latest attempt succeeded (2xx)
	free         []*opState
	clients      map[string]*clientState // by id, for ids whose hash another client took
	clientsByH   map[uint64]*clientState // by maphash of the id
	clientList   []*clientState
	lastClient   *clientState
	nonRetryable [1000]bool

	records  int64
	rejected int64 // records refused by the proxy's safety rules (action reject)
	first    int64
	now      int64
	late     int64
	maxRA    int64
	horizon  int64

	totals  Totals
	lat     *hist // end to end per operation
	attLat  *hist // per attempt
	secs    [secRing]secStat
	faultAt int64 // attempts in fault seconds (folded)
	faultOp int64 // operations started in fault seconds (folded)
	idem    Idempotency
}

// maxHorizonRA caps the Retry-After that lengthens the eviction horizon, so a "huge"
// Retry-After cannot make the analysis keep every operation in memory.
const maxHorizonRA = 5 * time.Minute

// horizonSlack is added to the eviction horizon.
const horizonSlack = 5 * time.Second

func newEngine(cfg *Config, names []string) *engine {
	e := &engine{
		cfg:        cfg,
		names:      names,
		seed:       maphash.MakeSeed(),
		ops:        newOpTable(1 << 12),
		clients:    map[string]*clientState{},
		clientsByH: map[uint64]*clientState{},
		lat:        newHist(),
		attLat:     newHist(),
	}
	for _, s := range cfg.NonRetryable {
		if s >= 0 && s < len(e.nonRetryable) {
			e.nonRetryable[s] = true
		}
	}
	e.checks = newCheckers(cfg)
	for _, c := range e.checks {
		h := c.hooks()
		if h.attempt {
			e.attHook = append(e.attHook, c)
		}
		if h.opDone {
			e.opHook = append(e.opHook, c)
		}
		if d, ok := c.(*duplicateCheck); ok {
			e.dup = d
		}
	}
	e.prep = newPrep(cfg, e.seed)
	e.conv = e.prep.newConverter()
	// Every per-operation check but max_attempts judges retries, and max_attempts can only
	// fault an operation of one attempt with a cap below 1 or a negative span (withDefaults
	// rules both out): most operations, those without a retry, skip the opDone hooks.
	e.judgeSingle = cfg.MaxAttempts < 1 || cfg.MaxRetrySpan < 0
	e.setHorizon()
	return e
}

func (e *engine) setHorizon() {
	h := e.cfg.MaxRetrySpan
	if ra := time.Duration(e.maxRA) * time.Millisecond; ra > h {
		h = ra
	}
	e.horizon = int64(h + horizonSlack)
}

// clientHashMul spreads a client's maphash for mixing it into per-client keys.
const clientHashMul = 0x9E3779B97F4A7C15

// client returns the state of client id, whose maphash is h.
func (e *engine) client(id string, h uint64) *clientState {
	if c := e.lastClient; c != nil && c.id == id {
		return c
	}
	c := e.clientsByH[h]
	if c == nil || c.id != id {
		if c != nil { // another client has this hash
			c = e.clients[id]
		}
		if c == nil {
			c = &clientState{id: id, hash: h * clientHashMul}
			if e.clientsByH[h] == nil {
				e.clientsByH[h] = c
			} else {
				e.clients[id] = c
			}
			e.clientList = append(e.clientList, c)
		}
	}
	e.lastClient = c
	return c
}

// process handles one record.
func (e *engine) process(r *journal.Record, src int) {
	var it item
	e.conv.fill(&it, r)
	e.processItem(&it, src)
}

// processItem handles one record whose derived fields are filled.
func (e *engine) processItem(r *item, src int) {
	if e.records == 0 {
		e.first, e.now = r.time, r.time
	}
	e.records++
	if r.time < e.now {
		e.late++
	} else {
		e.now = r.time
	}
	if r.act == actReject {
		// Refused by the proxy's safety rules (a hostile or malformed request): not an
		// attempt of any operation, so no check judges it.
		e.totals.Rejected++
		return
	}
	if r.ra > e.maxRA {
		e.maxRA = min(r.ra, int64(maxHorizonRA/time.Millisecond))
		e.setHorizon()
	}

	op := e.lookup(r.h, r.h2)
	newOp := op == nil
	if newOp {
		op = e.newOp(r)
		op.hash, op.h2 = r.h, r.h2
		e.store(op)
		op.client.ops++
	} else {
		op.list.unlink(op)
	}
	a := op.add(r, src)
	if int(r.attempt) > op.maxNo {
		op.maxNo = int(r.attempt)
	}
	// Done: the latest attempt succeeded (a truncated or dribbled 2xx may still be
	// retried) and no earlier attempt is still missing (the proxy numbered this one
	// beyond what was seen: a slow attempt not yet written).
	if l := op.last(); l.status >= 200 && l.status < 300 && len(op.attempts) >= op.maxNo &&
		l.act != actTruncate && l.act != actSlowBody {
		e.done.pushBack(op)
	} else {
		e.open.pushBack(op)
	}

	cl := op.client
	cl.attempts++
	if n := cl.second.push(r.time, int64(time.Second)); n > cl.peak {
		cl.peak = n
	}
	e.totals.Attempts++
	fault := isFaultCode(r.act)
	if fault {
		e.totals.Faults++
	}
	if r.act == actRateLimit {
		e.totals.RateLimited++
		cl.rateLimited++
	}
	if r.executed {
		e.totals.SideEffects++
	}
	e.attLat.add(a.dur)
	e.countSecond(r.time, newOp, fault)

	e.cur = r
	for _, c := range e.attHook {
		c.attempt(e, op, a)
	}
	e.cur = nil
	e.evict(e.now-e.horizon, e.now-int64(horizonSlack))
}

// prefetchAhead is how many records ahead of the one being processed the engine
// prefetches the table slots that record will touch.
const prefetchAhead = 6

// prefetch starts loading the cache lines processing it will read: its operation table
// slot and its idempotency key slot. It changes nothing.
func (e *engine) prefetch(it *item) {
	prefetch(uintptr(unsafe.Pointer(&e.ops.slots[it.h&e.ops.mask])))
	if e.dup != nil && it.idemH != 0 {
		prefetch(uintptr(unsafe.Pointer(e.dup.slot(keyHash(it.idemH, it.at.ch*clientHashMul)))))
	}
}

// prefetchEvict prepares the evictions after op's, in two stages along the eviction list:
// the next operation's table slot (its own lines were brought in when op's turn was
// prepared), and all the lines of the one after it. Operations wait seconds between their
// last activity and eviction, so none of this is in the cache.
func (e *engine) prefetchEvict(op *opState) {
	n := op.next
	if n == nil {
		return
	}
	prefetch(uintptr(unsafe.Pointer(&e.ops.slots[n.hash&e.ops.mask])))
	if nn := n.next; nn != nil {
		prefetchLines(unsafe.Pointer(nn), unsafe.Sizeof(*nn))
	}
}

// prefetchLines starts loading the cache lines of the size (> 0) bytes at p.
func prefetchLines(p unsafe.Pointer, size uintptr) {
	prefetchSpan(uintptr(p), size)
}

// prefetchOp starts loading the operation a retry belongs to, once its table slot is in
// the cache: the operation's lines.
func (e *engine) prefetchOp(it *item) {
	s := &e.ops.slots[it.h&e.ops.mask]
	if op := s.op; op != nil && s.h == it.h {
		prefetchLines(unsafe.Pointer(op), unsafe.Sizeof(*op))
	}
}

// lookup finds the operation in flight whose key hashes to h and h2.
func (e *engine) lookup(h, h2 uint64) *opState {
	op := e.ops.get(h)
	if op == nil || op.h2 == h2 {
		return op
	}
	return e.opsCollided[[2]uint64{h, h2}]
}

// store adds op; a first hash already taken by another operation (about once in
// 2^64/ops) sends it to the collision map.
func (e *engine) store(op *opState) {
	other := e.ops.get(op.hash)
	if other == nil {
		e.ops.put(op.hash, op)
		return
	}
	if other.h2 == op.h2 {
		panic("analysis: operation stored twice: " + op.op)
	}
	if e.opsCollided == nil {
		e.opsCollided = map[[2]uint64]*opState{}
	}
	e.opsCollided[[2]uint64{op.hash, op.h2}] = op
}

func (e *engine) remove(op *opState) {
	if !e.ops.delOp(op.hash, op) {
		delete(e.opsCollided, [2]uint64{op.hash, op.h2})
	}
}

func (e *engine) newOp(r *item) *opState {
	var op *opState
	if n := len(e.free); n > 0 {
		op = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		op = &opState{}
	}
	op.op = r.op
	at := r.at
	if at.cl == nil {
		at.cl = e.client(at.client, at.ch)
	}
	op.client = at.cl
	op.method, op.path, op.limits = at.method, r.path, r.limits
	op.attempts = op.inline[:0]
	op.lastEnd, op.maxNo = 0, 0
	return op
}

// opList is a doubly linked list of operations, oldest activity first.
type opList struct{ head, tail *opState }

func (l *opList) pushBack(op *opState) {
	op.prev, op.next, op.list = l.tail, nil, l
	if l.tail != nil {
		l.tail.next = op
	} else {
		l.head = op
	}
	l.tail = op
}

func (l *opList) unlink(op *opState) {
	if op.prev != nil {
		op.prev.next = op.next
	} else {
		l.head = op.next
	}
	if op.next != nil {
		op.next.prev = op.prev
	} else {
		l.tail = op.prev
	}
	op.prev, op.next, op.list = nil, nil, nil
}

// evict finalises the operations that can get no more attempts: those still open whose
// last activity is before openLimit, and those whose latest attempt succeeded whose last
// activity is before doneLimit.
func (e *engine) evict(openLimit, doneLimit int64) {
	for op := e.open.head; op != nil && op.lastEnd < openLimit; op = e.open.head {
		e.prefetchEvict(op)
		e.finalize(op)
	}
	for op := e.done.head; op != nil && op.lastEnd < doneLimit; op = e.done.head {
		e.prefetchEvict(op)
		e.finalize(op)
	}
}

// finalize runs the per-operation checks and totals, then recycles op.
func (e *engine) finalize(op *opState) {
	op.list.unlink(op)
	e.remove(op)
	n := len(op.attempts)
	first, last := op.first(), op.last()
	e.totals.Operations++
	e.totals.Retries += int64(n - 1)
	if n > e.totals.MaxAttempts {
		e.totals.MaxAttempts = n
	}
	cut := false
	switch {
	case last.status >= 200 && last.status < 300 && last.act != actTruncate:
		e.totals.Succeeded++
	case e.cutting:
		// The journals end while this operation was still failing: whether its client
		// would have retried it is unknown, so it is neither a failure nor abandoned, and
		// its end-to-end latency is not known either.
		e.totals.Cut++
		cut = true
	default:
		// A truncated body is a failure the client saw as a broken connection: a
		// network error, which is retryable.
		e.totals.Failed++
		if retryableStatus(int(last.status)) || last.act == actTruncate {
			e.totals.Abandoned++
		}
	}
	if !cut {
		e.lat.add(last.end() - first.time)
	}
	if n > 1 || e.judgeSingle {
		for _, c := range e.opHook {
			c.opDone(e, op)
		}
	}
	clear(op.attempts)
	switch c := cap(op.attempts); {
	case c > 64: // do not keep a huge slice of an unbounded operation
		op.spare = nil
	case c > 1:
		op.spare = op.attempts[:0]
	}
	op.attempts = nil
	op.client = nil
	e.free = append(e.free, op)
}

// retryableStatus reports whether a failed attempt's status invites a retry: no response,
// 408, 429 or 5xx.
func retryableStatus(s int) bool {
	return s == 0 || s == 408 || s == 429 || s >= 500
}

func (e *engine) countSecond(t int64, newOp, fault bool) {
	sec := t / int64(time.Second)
	s := &e.secs[uint64(sec)%secRing]
	if s.sec != sec {
		if sec < s.sec { // far too late: the slot now holds a newer second
			return
		}
		e.foldSecond(s)
		*s = secStat{sec: sec}
	}
	s.attempts++
	if newOp {
		s.newOps++
	}
	if fault {
		s.faults++
	}
}

func (e *engine) foldSecond(s *secStat) {
	if s.faults > 0 {
		e.faultAt += s.attempts
		e.faultOp += s.newOps
	}
}

// ref cites attempt a of op as evidence.
func (e *engine) ref(op *opState, a *attempt) AttemptRef {
	ar := AttemptRef{
		Seq:          a.seq,
		Time:         time.Unix(0, a.time).UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		OffsetMs:     (a.time - e.first) / int64(time.Millisecond),
		Attempt:      int(a.no),
		Method:       op.method,
		Path:         op.path,
		Status:       int(a.status),
		Action:       a.at.action,
		Rule:         a.at.rule,
		RetryAfterMs: a.ra,
		IdemKey:      a.idemKey,
	}
	if len(e.names) > 1 && int(a.src) < len(e.names) {
		ar.Journal = e.names[a.src]
	}
	return ar
}

// refs cites every attempt of op (the first 10 and the last when there are more).
func (e *engine) refs(op *opState) []AttemptRef {
	n := len(op.attempts)
	out := make([]AttemptRef, 0, min(n, 11))
	for i := range op.attempts {
		if i < 10 || i == n-1 {
			out = append(out, e.ref(op, &op.attempts[i]))
		}
	}
	return out
}

// violation builds a violation of op citing all its attempts.
func (e *engine) violation(op *opState, msg, expected string) Violation {
	return Violation{Client: op.client.id, Op: op.op, Message: msg, Expected: expected, Attempts: e.refs(op)}
}

// Analyze reads one or more journals in one pass, merged by time, runs every check and
// returns the report with the configuration's thresholds (or the default gates) applied.
// Memory is bounded by the operations in flight and the clients, not the journals'
// length. When ctx is cancelled, Analyze returns what it has read as a report with
// Partial set, together with an error wrapping ctx.Err().
func Analyze(ctx context.Context, cfg Config, srcs ...Source) (*Report, error) {
	if len(srcs) == 0 {
		return nil, fmt.Errorf("analyze: no journal given")
	}
	if _, err := parseGates(cfg.Thresholds); err != nil {
		return nil, fmt.Errorf("analyze: thresholds: %w", err)
	}
	cfg = cfg.withDefaults()
	started := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	names := make([]string, len(srcs))
	e := newEngine(&cfg, names)
	m := &merger{}
	for i, s := range srcs {
		names[i] = s.Name
		// 32 batches in flight: with fewer, the engine drains the channel, parks and is
		// woken again thousands of times a second, which costs more than the items.
		st := &sourceState{idx: i, ch: make(chan *batch, 32), free: make(chan *batch, 64)}
		m.srcs = append(m.srcs, st)
		go readSource(ctx, s, e.prep, int64(cfg.ReorderWindow), st.ch, st.free)
	}
	var runErr error
	for {
		it, src, err := m.next(ctx)
		if err != nil {
			runErr = err
			break
		}
		if it == nil {
			break
		}
		// Two stages: the item twice as far ahead is brought in (the reader wrote it on
		// the other core), then the one prefetchAhead ahead says which slots to bring in.
		if nx := m.srcs[src].peek(2 * prefetchAhead); nx != nil {
			prefetchLines(unsafe.Pointer(nx), unsafe.Sizeof(*nx))
		}
		if nx := m.srcs[src].peek(prefetchAhead); nx != nil {
			e.prefetch(nx)
		}
		if nx := m.srcs[src].peek(prefetchAhead / 2); nx != nil {
			e.prefetchOp(nx)
		}
		e.processItem(it, src)
	}
	if runErr != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("analyze: %w", runErr)
	}
	rep := e.report(m, cfg.CutShort || runErr != nil)
	rep.Run.AnalyzedIn = time.Since(started).Seconds()
	if runErr != nil {
		rep.Partial = true
		rep.Run.Warnings = append(rep.Run.Warnings, "analysis interrupted: the report covers part of the journals")
		return rep, fmt.Errorf("analyze: interrupted: %w", runErr)
	}
	return rep, nil
}

// AnalyzeFiles analyses the journals at paths ("-" is standard input).
func AnalyzeFiles(ctx context.Context, cfg Config, paths ...string) (*Report, error) {
	srcs := make([]Source, 0, len(paths))
	for _, p := range paths {
		if p == "-" {
			srcs = append(srcs, Source{Name: "-", R: os.Stdin})
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("open journal: %w", err)
		}
		defer f.Close()
		srcs = append(srcs, Source{Name: p, R: f})
	}
	return Analyze(ctx, cfg, srcs...)
}

// report finalises every operation and check and assembles the report; cutShort: the
// journals end early (see Config.CutShort).
func (e *engine) report(m *merger, cutShort bool) *Report {
	e.cutting = cutShort
	e.evict(math.MaxInt64, math.MaxInt64)
	e.cutting = false
	for i := range e.secs {
		e.foldSecond(&e.secs[i])
		e.secs[i] = secStat{}
	}
	for _, c := range e.checks {
		c.finish(e)
	}
	rep := &Report{Version: ReportVersion, Run: e.cfg.Run, Idempotency: e.idem}
	rep.Run.Journals = slices.Clone(e.names)
	rep.Run.Records = e.records
	rep.Run.TornLines, rep.Run.BadLines = 0, 0
	for _, s := range m.srcs {
		if s.last == nil {
			continue
		}
		rep.Run.TornLines += s.last.torn
		rep.Run.BadLines += len(s.last.bad)
		for i, err := range s.last.bad {
			if i == 5 {
				rep.Run.Warnings = append(rep.Run.Warnings, fmt.Sprintf("%s: %d more malformed lines", e.names[s.idx], len(s.last.bad)-5))
				break
			}
			rep.Run.Warnings = append(rep.Run.Warnings, err.Error())
		}
	}
	if e.records == 0 {
		rep.Run.Warnings = append(rep.Run.Warnings, "the journals hold no records: nothing was judged")
	}
	if e.late > 0 {
		rep.Run.Warnings = append(rep.Run.Warnings, fmt.Sprintf(
			"%d records arrived more than %v out of time order and were analysed late", e.late, e.cfg.ReorderWindow))
	}
	if rep.Run.DurationS == 0 && e.records > 0 {
		rep.Run.DurationS = round3(float64(e.now-e.first) / 1e9)
	}
	if rep.Run.Started == "" && e.records > 0 {
		rep.Run.Started = time.Unix(0, e.first).UTC().Format(time.RFC3339)
	}

	t := e.totals
	t.Clients = len(e.clientList)
	if done := t.Operations - t.Cut; done > 0 {
		t.SuccessRate = float64(t.Succeeded) / float64(done)
	}
	if t.Operations > 0 {
		t.AttemptsPerOp = round3(float64(t.Attempts) / float64(t.Operations))
	}
	rep.Totals = t
	rep.Latency = e.lat.latency()
	rep.AttemptLatency = e.attLat.latency()

	for _, c := range e.checks {
		rep.Checks = append(rep.Checks, c.base().result())
	}
	for _, c := range e.checks {
		if d, ok := c.(*duplicateCheck); ok {
			rep.Totals.Duplicates = d.extra
		}
	}
	sort.Slice(e.clientList, func(i, j int) bool { return e.clientList[i].id < e.clientList[j].id })
	rep.Clients = make([]ClientStats, 0, len(e.clientList))
	for _, c := range e.clientList {
		rep.Clients = append(rep.Clients, ClientStats{
			Client:      c.id,
			Name:        e.cfg.ClientNames[c.id],
			Operations:  c.ops,
			Attempts:    c.attempts,
			RateLimited: c.rateLimited,
			PeakRate:    float64(c.peak),
			Limit:       c.limit,
			Burst:       c.burst,
		})
	}
	rep.Metrics = buildMetrics(rep, e)
	_ = rep.ApplyGates(e.cfg.Thresholds, "profile") // validated before the pass
	return rep
}

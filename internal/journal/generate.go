package journal

import (
	"bufio"
	"container/heap"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"time"
)

// GenerateStart is the wall-clock time of the first record Generate writes.
var GenerateStart = time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC)

// Generate writes a realistic journal of n records to w, reproducible from seed: eight
// clients at about 2,000 operations per second in total; creates (POST /v1/calls,
// /v1/agents, /v1/schedules, most with an Idempotency-Key) and reads (GET /v1/calls/{id});
// operations of 1 to 5 attempts, retried with exponential backoff and jitter after
// 502/503/504 faults and after 429s that announce a Retry-After (in seconds, sometimes as
// an HTTP-date); some lost responses whose side effect was executed, some replays. Records
// are in arrival order with increasing seq and ts, about 420 bytes each. Benchmarks and
// `make bench` use it to build large journals.
func Generate(w io.Writer, n int, seed int64) error {
	g := newGenerator(seed)
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	var rec Record
	for i := 0; i < n; i++ {
		g.next(&rec)
		rec.Seq = uint64(i + 1)
		buf = AppendRecord(buf[:0], &rec)
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("generate journal: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("generate journal: %w", err)
	}
	return nil
}

// genOp is a logical operation with its next attempt scheduled.
type genOp struct {
	at       int64 // ns since start of the next attempt
	op       string
	client   int
	endpoint int
	idemKey  string
	bodyHash string
	path     string
	attempt  int
	executed bool // a side effect already happened (for replays)
	index    int
}

type opQueue []*genOp

func (q opQueue) Len() int           { return len(q) }
func (q opQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q opQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i]; q[i].index = i; q[j].index = j }
func (q *opQueue) Push(x any)        { o := x.(*genOp); o.index = len(*q); *q = append(*q, o) }
func (q *opQueue) Pop() any {
	old := *q
	o := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return o
}

type genEndpoint struct {
	method, path string
	create       bool
	weight       int
}

var genEndpoints = []genEndpoint{
	{"POST", "/v1/calls", true, 55},
	{"POST", "/v1/agents", true, 8},
	{"POST", "/v1/schedules", true, 7},
	{"GET", "/v1/calls/", false, 30},
}

type generator struct {
	rng      *rand.Rand
	clients  []string
	queue    opQueue
	nextOpAt int64
}

func newGenerator(seed int64) *generator {
	g := &generator{rng: rand.New(rand.NewSource(seed))}
	for i := range 8 {
		g.clients = append(g.clients, HashKey(fmt.Sprintf("sk_live_%d_%d", seed, i)))
	}
	return g
}

func (g *generator) uuid() string {
	var b [16]byte
	_, _ = g.rng.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

func (g *generator) hash() string {
	var b [8]byte
	_, _ = g.rng.Read(b[:])
	return hex.EncodeToString(b[:])
}

// startOp schedules a new operation at the next arrival of a ~2,000/s Poisson stream.
func (g *generator) startOp() {
	g.nextOpAt += int64(g.rng.ExpFloat64() * float64(500*time.Microsecond))
	o := &genOp{at: g.nextOpAt, op: g.uuid(), client: g.rng.Intn(len(g.clients)), attempt: 1}
	w := g.rng.Intn(100)
	for i, e := range genEndpoints {
		if w < e.weight {
			o.endpoint = i
			break
		}
		w -= e.weight
	}
	e := genEndpoints[o.endpoint]
	o.path = e.path
	if e.create {
		o.bodyHash = g.hash()
		if g.rng.Intn(10) != 0 { // one create in ten carries no key
			o.idemKey = g.uuid()
		}
	} else {
		o.path += "call_" + g.uuid()
	}
	heap.Push(&g.queue, o)
}

// next fills r with the next attempt in arrival order.
func (g *generator) next(r *Record) {
	// Keep new operations flowing so that retries interleave with first attempts.
	for len(g.queue) == 0 || g.queue[0].at > g.nextOpAt {
		g.startOp()
	}
	o := heap.Pop(&g.queue).(*genOp)
	e := genEndpoints[o.endpoint]
	*r = Record{
		Time:         GenerateStart.UnixNano() + o.at,
		Mono:         o.at,
		Client:       g.clients[o.client],
		Method:       e.method,
		Path:         o.path,
		Op:           o.op,
		IdemKey:      o.idemKey,
		BodyHash:     o.bodyHash,
		Attempt:      o.attempt,
		RetryAfterMs: NoRetryAfter,
	}
	okStatus := 200
	if e.create {
		okStatus = 201
	}
	forward := func() {
		r.Action = ActionForward
		r.Status = okStatus
		r.UpstreamStatus = okStatus
		r.DurNs = int64(time.Millisecond) + g.rng.Int63n(int64(4*time.Millisecond))
		if e.create {
			if o.executed && o.idemKey != "" {
				r.Replayed = true
			} else {
				r.Executed = true
			}
		}
	}
	retry := true
	switch p := g.rng.Intn(1000); {
	case o.attempt >= 5 || p < 820:
		forward()
		retry = false
	case p < 890:
		r.Rule, r.Action, r.Status = "flaky-503", ActionRespond, 503
		r.DurNs = int64(20*time.Microsecond) + g.rng.Int63n(int64(60*time.Microsecond))
	case p < 940:
		r.Rule, r.Action, r.Status = "per-key-limit", ActionRateLimit, 429
		secs := 1 + g.rng.Int63n(3)
		r.RetryAfterMs = secs * 1000
		if g.rng.Intn(20) == 0 {
			r.RetryAfter = time.Unix(0, r.Time).Add(time.Duration(secs) * time.Second).UTC().Format(time.RFC1123)
		}
		r.DurNs = int64(15*time.Microsecond) + g.rng.Int63n(int64(40*time.Microsecond))
	case p < 970:
		r.Rule, r.Action, r.Status = "lost-create", ActionLoseResponse, 502
		r.UpstreamStatus = okStatus
		r.DurNs = int64(time.Millisecond) + g.rng.Int63n(int64(4*time.Millisecond))
		if e.create && !(o.executed && o.idemKey != "") {
			r.Executed = true
		}
		o.executed = true
	case p < 985:
		r.Rule, r.Action, r.Status = "gateway-timeout", ActionDelay, 504
		r.DurNs = int64(2 * time.Second)
		r.Err = "upstream timeout after 2s"
	default:
		r.Rule, r.Action, r.Status = "flaky-502", ActionRespond, 502
		r.DurNs = int64(20*time.Microsecond) + g.rng.Int63n(int64(60*time.Microsecond))
	}
	if r.Executed {
		o.executed = true
	}
	if !retry {
		return
	}
	// Exponential backoff with full jitter from 100 ms, or the announced Retry-After.
	delay := int64(100*time.Millisecond) << (o.attempt - 1)
	delay = delay/2 + g.rng.Int63n(delay/2+1)
	if r.RetryAfterMs >= 0 {
		delay = r.RetryAfterMs*int64(time.Millisecond) + g.rng.Int63n(int64(50*time.Millisecond))
	}
	o.at += r.DurNs + delay
	o.attempt++
	heap.Push(&g.queue, o)
}

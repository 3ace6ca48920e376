// Package load drives retrylab's load: vegeta attacks at a profile's shape (constant, ramp,
// step, sine, burst) through the client under test, spread over the profile's API keys and
// weighted endpoint mix, every logical operation stamped with a UUID in the op header.
//
// Run writes vegeta's own results encoding (so `vegeta report` and `vegeta plot` work on
// it), one JSON line per operation with what the client saw, and a progress line. It fixes
// vegeta's known pitfalls: catch-up bursts after a stall are capped and the skipped hits
// reported as dropped (Pacer), a worker cap's missing requests are reported as dropped,
// requests in flight are cancelled through their context when the run is interrupted, and
// every run uses a new Attacker.
//
// StartService runs the user's service (client kind "service") with RETRYLAB_PROXY_URL in
// its environment for the length of a run.
package load

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/retrylab/retrylab/internal/client"
	"github.com/retrylab/retrylab/internal/profile"
)

// Config is one run.
type Config struct {
	// Profile gives Load, Duration, Clients, Endpoints, Seed, Client, Proxy.OpHeader and
	// RateLimits. It must have its defaults applied.
	Profile *profile.Profile
	// BaseURL receives the requests: the proxy (reference and go kinds) or the user's
	// service (service kind).
	BaseURL string
	// Client is the client under test. nil = NewClient(Profile): the reference client the
	// profile names, or a plain client for the service kind.
	Client *http.Client
	// Results receives vegeta results in vegeta's gob encoding; nil = discard.
	Results io.Writer
	// Outcomes receives one JSON line per operation (see Outcome); nil = discard.
	Outcomes io.Writer
	// Progress receives a live line (redrawn with \r on a terminal, a plain line every
	// ProgressEvery otherwise); nil = none.
	Progress io.Writer
	// Extra returns more text for the progress line (the proxy's counts); may be nil.
	Extra func() string
	// Drain bounds how long operations still in flight when the load ends may take before
	// they are cancelled (default DefaultDrain).
	Drain time.Duration
	// ProgressEvery is the period of plain progress lines (default 5s; a terminal line is
	// redrawn every 250ms).
	ProgressEvery time.Duration
	// AttackName names the vegeta attack (default the profile's name, else "retrylab").
	AttackName string
}

// DefaultDrain is how long operations in flight at the end of the load may finish.
const DefaultDrain = 45 * time.Second

// Summary is what a run did.
type Summary struct {
	Planned   int64         `json:"planned"`   // operations the shape called for
	Sent      int64         `json:"sent"`      // operations started
	Dropped   int64         `json:"dropped"`   // Planned - Sent: hits skipped late or never sent (worker cap, interruption)
	Succeeded int64         `json:"succeeded"` // operations that ended in a 2xx or 3xx
	Failed    int64         `json:"failed"`    // operations that ended in an error or another status
	Duration  time.Duration `json:"duration"`  // from the first hit to the last outcome (drain included)
	Rate      float64       `json:"rate"`      // operations started per second of load
	// Interrupted is set when ctx was cancelled: the results so far are written.
	Interrupted bool    `json:"interrupted"`
	PerSecond   []int64 `json:"per_second"` // operations started in each second from the start (sums to Sent)
}

// Outcome is one line of Config.Outcomes: an operation as the client under test ended it.
type Outcome struct {
	Op        string  `json:"op"`
	Seq       uint64  `json:"seq"` // the vegeta result's Seq
	Time      int64   `json:"ts"`  // start, Unix ns
	Client    string  `json:"client"`
	Endpoint  string  `json:"endpoint"`
	Method    string  `json:"method"`
	Status    int     `json:"status"`   // 0 when the operation ended in an error
	Attempts  int64   `json:"attempts"` // attempts the client made; 0 = not counted (a client that does not report them)
	LatencyMs float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// NewClient returns the client a profile implies when none is given: the reference client
// it names (with its overrides, limits, timeout and seed), or for the service kind a plain
// client that makes one request per operation.
func NewClient(p *profile.Profile) (*http.Client, error) {
	switch p.Client.Kind {
	case profile.KindService:
		return &http.Client{Transport: client.NewHTTPTransport(), Timeout: serviceTimeout(p)}, nil
	case profile.KindGo:
		return nil, errors.New("client kind go needs the user's *http.Client")
	}
	pol, opts, err := client.ForProfile(p)
	if err != nil {
		return nil, err
	}
	return client.New(pol, opts), nil
}

// serviceTimeout bounds one request to the user's service, which retries on its own: its
// per-attempt timeout plus the seeds' total retry span.
func serviceTimeout(p *profile.Profile) time.Duration {
	return p.Client.Timeout.D() + profile.DefaultMaxRetrySpan
}

// Run drives the profile's load through the client and returns when every operation has
// ended, or when ctx is cancelled (then Interrupted is set, operations in flight are
// cancelled and everything received so far is written). The error is nil unless the run
// could not start or its output could not be written.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	p := cfg.Profile
	if p == nil {
		return nil, errors.New("load: no profile")
	}
	pacer, err := NewPacer(p.Load, p.Duration.D())
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	tg, err := NewTargeter(p, cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	hc := cfg.Client
	if hc == nil {
		if hc, err = NewClient(p); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	name := cfg.AttackName
	if name == "" {
		name = p.Name
	}
	if name == "" {
		name = "retrylab"
	}
	drain := cfg.Drain
	if drain <= 0 {
		drain = DefaultDrain
	}

	// Requests in flight are cancelled through this context: vegeta's Stop does not.
	flight, cancelFlight := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlight()

	var ops sync.Map // op id -> Op, from the targeter
	tg.OnOp = func(o Op) { ops.Store(o.ID, o) }
	rt := &runTransport{base: hc.Transport, ctx: flight, opHeader: tg.OpHeader()}
	if rt.base == nil {
		rt.base = http.DefaultTransport
	}
	attackClient := *hc
	attackClient.Transport = rt

	workers, maxWorkers := uint64(max(p.Load.Workers, 1)), uint64(max(p.Load.MaxWorkers, p.Load.Workers, 1))
	atk := vegeta.NewAttacker(
		vegeta.Client(&attackClient),
		vegeta.Workers(workers),
		vegeta.MaxWorkers(maxWorkers),
	)

	var st stats
	// Operations started per second, from the results (late hits may start after the
	// duration); only the results loop touches it.
	perSecond := make([]int64, int((pacer.Duration()+time.Second-1)/time.Second))
	prog := newProgress(cfg.Progress, cfg.ProgressEvery, pacer, &st, cfg.Extra)

	var resEnc vegeta.Encoder
	var resBuf, outBuf *bufio.Writer
	if cfg.Results != nil {
		resBuf = bufio.NewWriterSize(cfg.Results, 256<<10)
		resEnc = vegeta.NewEncoder(resBuf)
	}
	var outEnc *json.Encoder
	if cfg.Outcomes != nil {
		outBuf = bufio.NewWriterSize(cfg.Outcomes, 256<<10)
		outEnc = json.NewEncoder(outBuf)
	}

	start := time.Now()
	st.start = start
	results := atk.Attack(vegeta.Targeter(tg.Next), pacer, 0, name)
	prog.start(start)

	// Watch for Ctrl-C and for the end of the load (then bound the drain).
	var interrupted atomic.Bool
	var loadEnd atomic.Int64 // ns since start at which the load phase ended
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				interrupted.Store(true)
				loadEnd.CompareAndSwap(0, int64(time.Since(start)))
				atk.Stop()
				cancelFlight()
				return
			case <-flight.Done():
				return
			case <-tick.C:
				if pacer.Done() {
					loadEnd.CompareAndSwap(0, int64(time.Since(start)))
					timer := time.NewTimer(drain)
					select {
					case <-ctx.Done():
						interrupted.Store(true)
						atk.Stop()
					case <-timer.C:
					case <-flight.Done():
					}
					timer.Stop()
					cancelFlight()
					return
				}
			}
		}
	}()

	var writeErr error
	for res := range results {
		st.sent.Add(1)
		ok := res.Error == "" && res.Code >= 200 && res.Code < 400
		if ok {
			st.ok.Add(1)
		} else {
			st.failed.Add(1)
		}
		if sec := int(res.Timestamp.Sub(start) / time.Second); sec >= 0 {
			for len(perSecond) <= sec {
				perSecond = append(perSecond, 0)
			}
			perSecond[sec]++
		}
		track := rt.take(res.Seq)
		if writeErr != nil {
			continue
		}
		if resEnc != nil {
			if err := resEnc.Encode(res); err != nil {
				writeErr = fmt.Errorf("write results: %w", err)
			}
		}
		if outEnc != nil {
			o := Outcome{Seq: res.Seq, Time: res.Timestamp.UnixNano(), Method: res.Method, Status: int(res.Code),
				LatencyMs: float64(res.Latency) / 1e6, Error: res.Error}
			if track != nil {
				o.Op, o.Attempts = track.op, track.counter.Load()
				if v, ok := ops.LoadAndDelete(track.op); ok {
					op := v.(Op)
					o.Client, o.Endpoint = op.Client, op.Endpoint
				}
			}
			if o.Error != "" && o.Status >= 200 && o.Status < 400 {
				o.Status = 0 // the body could not be read: an error, not that status
			}
			if err := outEnc.Encode(&o); err != nil {
				writeErr = fmt.Errorf("write outcomes: %w", err)
			}
		}
	}
	end := time.Now()
	cancelFlight()
	<-watchDone
	prog.stop()

	if resBuf != nil && writeErr == nil {
		if err := resBuf.Flush(); err != nil {
			writeErr = fmt.Errorf("write results: %w", err)
		}
	}
	if outBuf != nil && writeErr == nil {
		if err := outBuf.Flush(); err != nil {
			writeErr = fmt.Errorf("write outcomes: %w", err)
		}
	}

	loadLen := time.Duration(loadEnd.Load())
	if loadLen <= 0 || loadLen > pacer.Duration() {
		loadLen = pacer.Duration()
	}
	sum := &Summary{
		Planned:     pacer.Planned(loadLen),
		Sent:        st.sent.Load(),
		Succeeded:   st.ok.Load(),
		Failed:      st.failed.Load(),
		Duration:    end.Sub(start),
		Interrupted: interrupted.Load() || ctx.Err() != nil,
	}
	if !sum.Interrupted {
		sum.Planned = pacer.Planned(pacer.Duration())
	}
	sum.Dropped = max(0, sum.Planned-sum.Sent)
	if loadLen > 0 {
		sum.Rate = float64(sum.Sent) / loadLen.Seconds()
	}
	if sum.Interrupted {
		// Keep the seconds the load ran (and any late starts after them).
		n := int((loadLen + time.Second - 1) / time.Second)
		for len(perSecond) > n && perSecond[len(perSecond)-1] == 0 {
			perSecond = perSecond[:len(perSecond)-1]
		}
	}
	sum.PerSecond = perSecond
	prog.final(sum)
	return sum, writeErr
}

// stats are the live counters the progress line reads.
type stats struct {
	start            time.Time
	sent, ok, failed atomic.Int64
}

// runTransport sits between vegeta and the client under test: it binds every request to
// the run's context (so an interrupted run cancels what is in flight), gives the client
// an attempt counter, and remembers the operation of each vegeta Seq for the outcomes.
type runTransport struct {
	base     http.RoundTripper
	ctx      context.Context
	opHeader string
	pending  sync.Map // vegeta seq (uint64) -> *opTrack
}

type opTrack struct {
	op      string
	counter client.AttemptCounter
}

func (t *runTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr := &opTrack{op: req.Header.Get(t.opHeader)}
	if s := req.Header.Get("X-Vegeta-Seq"); s != "" {
		if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
			t.pending.Store(seq, tr)
		}
	}
	ctx, cancel := context.WithCancel(client.WithAttemptCounter(req.Context(), &tr.counter))
	stop := context.AfterFunc(t.ctx, cancel)
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: func() { stop(); cancel() }}
	return resp, nil
}

func (t *runTransport) take(seq uint64) *opTrack {
	v, ok := t.pending.LoadAndDelete(seq)
	if !ok {
		return nil
	}
	return v.(*opTrack)
}

// releaseBody releases a request's context once its response body is closed.
type releaseBody struct {
	io.ReadCloser
	release func()
	once    sync.Once
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

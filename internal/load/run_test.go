package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/retrylab/retrylab/internal/client"
	"github.com/retrylab/retrylab/internal/profile"
)

// recorder is a loopback server that records the arrival of every request and answers
// with handle (200 when nil).
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	at     []time.Time
	ops    map[string]int
	handle func(w http.ResponseWriter, r *http.Request, nthOfOp int)
}

func newRecorder(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, nthOfOp int)) *recorder {
	t.Helper()
	rc := &recorder{ops: map[string]int{}, handle: handle}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		_, _ = io.Copy(io.Discard, r.Body)
		op := r.Header.Get(profile.DefaultOpHeader)
		rc.mu.Lock()
		rc.at = append(rc.at, now)
		rc.ops[op]++
		n := rc.ops[op]
		rc.mu.Unlock()
		if rc.handle != nil {
			rc.handle(w, r, n)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// perSecond counts arrivals per second of the plan. The server does not know when the
// load started: the start is taken as the median of (arrival - due time) over the first
// 25 requests, so that one slow first request (a connection being set up) does not shift
// every second.
func (rc *recorder) perSecond(n int, due []time.Duration) []int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]int, n)
	if len(rc.at) == 0 {
		return out
	}
	at := slices.Clone(rc.at)
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	var offs []int64
	for i := 0; i < len(at) && i < len(due) && i < 25; i++ {
		offs = append(offs, at[i].Sub(at[0]).Nanoseconds()-int64(due[i]))
	}
	slices.Sort(offs)
	t0 := at[0].Add(time.Duration(offs[len(offs)/2]))
	for _, a := range at {
		if i := int(a.Sub(t0) / time.Second); i >= 0 && i < n {
			out[i]++
		}
	}
	return out
}

func loadProfile(l profile.LoadSpec, d time.Duration, policy string) *profile.Profile {
	p := testProfile()
	p.Load = l
	p.Duration = dur(d)
	p.Client = profile.ClientUnderTest{Kind: profile.KindReference, Policy: policy, BaseDelay: dur(time.Millisecond)}
	p.ApplyDefaults()
	return p
}

// TestRunShapes runs every shape against a loopback server and compares the requests the
// server saw in each second with the plan. Tolerance: a hit due within a few ms of a second
// boundary may land on either side of it, and the test shares 2 cores with the race
// detector and other packages' tests: 5 requests plus 10% per second; the pacer's dropped
// hits (stalls over 100 ms) must stay under 5% of the plan. The precise figures (1% over a
// run, 2% per burst second at 2,000/s) are BenchmarkAccuracy's, on a quiet machine.
func TestRunShapes(t *testing.T) {
	tests := []struct {
		name string
		spec profile.LoadSpec
		d    time.Duration
	}{
		{"constant", profile.LoadSpec{Shape: "constant", Rate: 100}, 2 * time.Second},
		{"ramp", profile.LoadSpec{Shape: "ramp", From: 20, To: 180}, 2 * time.Second},
		{"step", profile.LoadSpec{Shape: "step", Steps: steps(profile.Step{Rate: 40, Duration: dur(time.Second)}, profile.Step{Rate: 160, Duration: dur(time.Second)})}, 2 * time.Second},
		{"sine", profile.LoadSpec{Shape: "sine", Rate: 100, Amplitude: 60, Period: dur(2 * time.Second)}, 2 * time.Second},
		{"burst", profile.LoadSpec{Shape: "burst", Rate: 50, BurstRate: 150, BurstDuration: dur(time.Second), BurstEvery: dur(2 * time.Second)}, 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan, _ := NewPacer(tc.spec, tc.d)
			due := simulate(t, plan, -1, 0)
			want := perSecond(due, tc.d)
			// A run the machine disturbed (a stall dropped hits or shifted them into the next
			// second) proves nothing about the shape: measure up to three times and judge the
			// best run. A wrong shape fails all three.
			var problems []string
			for try := 1; try <= 3; try++ {
				problems = shapeRun(t, tc.spec, tc.d, plan.Planned(tc.d), want, due)
				if len(problems) == 0 {
					return
				}
				t.Logf("run %d disturbed or wrong: %v", try, problems)
			}
			t.Error(strings.Join(problems, "; "))
		})
	}
}

// shapeRun runs one load against a loopback server and returns what differs from the plan.
func shapeRun(t *testing.T, spec profile.LoadSpec, d time.Duration, planned int64, want []int, due []time.Duration) []string {
	t.Helper()
	rc := newRecorder(t, nil)
	p := loadProfile(spec, d, "no-retry")
	sum, err := Run(context.Background(), Config{Profile: p, BaseURL: rc.URL})
	if err != nil {
		t.Fatal(err)
	}
	// Invariants that hold however the machine behaves.
	if sum.Sent+sum.Dropped != sum.Planned || sum.Planned != planned {
		t.Fatalf("planned %d, sent %d, dropped %d; the plan is %d", sum.Planned, sum.Sent, sum.Dropped, planned)
	}
	if sum.Succeeded != sum.Sent || sum.Failed != 0 || sum.Interrupted {
		t.Fatalf("summary %+v", sum)
	}
	total := int64(0)
	for _, n := range sum.PerSecond {
		total += n
	}
	if total != sum.Sent {
		t.Fatalf("per second %v sums to %d, sent %d", sum.PerSecond, total, sum.Sent)
	}
	var problems []string
	if sum.Dropped > sum.Planned/20 {
		problems = append(problems, fmt.Sprintf("dropped %d of %d", sum.Dropped, sum.Planned))
	}
	got := rc.perSecond(len(want), due)
	for i := range want {
		tol := 5 + want[i]/10
		if dd := got[i] - want[i]; dd > tol || dd < -tol {
			problems = append(problems, fmt.Sprintf("second %d: server saw %d, want %d ± %d (all %v, plan %v)", i, got[i], want[i], tol, got, want))
		}
	}
	return problems
}

// TestRunRetriesKeepOp checks that every operation carries a unique op header, kept on
// each attempt, and that the outcomes and vegeta results describe the operations.
func TestRunRetriesKeepOp(t *testing.T) {
	rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	p := loadProfile(profile.LoadSpec{Shape: "constant", Rate: 50}, time.Second, "compliant")
	var results, outcomes bytes.Buffer
	sum, err := Run(context.Background(), Config{Profile: p, BaseURL: rc.URL, Results: &results, Outcomes: &outcomes, AttackName: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 50 || sum.Succeeded != 50 {
		t.Fatalf("summary %+v", sum)
	}
	rc.mu.Lock()
	if len(rc.ops) != 50 {
		t.Errorf("server saw %d operations, want 50", len(rc.ops))
	}
	for op, n := range rc.ops {
		if op == "" || n != 2 {
			t.Errorf("op %q seen %d times, want 2", op, n)
		}
	}
	rc.mu.Unlock()

	sc := bufio.NewScanner(&outcomes)
	lines := 0
	for sc.Scan() {
		var o Outcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		lines++
		if o.Attempts != 2 || o.Status != 201 || o.Error != "" {
			t.Errorf("outcome %+v: want 2 attempts ending 201", o)
		}
		if rc.ops[o.Op] != 2 || o.Client == "" || o.Endpoint == "" || o.Method == "" || o.LatencyMs <= 0 {
			t.Errorf("outcome %+v does not describe its operation", o)
		}
	}
	if lines != 50 {
		t.Errorf("%d outcome lines, want 50", lines)
	}

	dec := vegeta.NewDecoder(&results)
	seqs := map[uint64]bool{}
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if r.Attack != "t" || r.Code != 201 {
			t.Errorf("result %+v", r)
		}
		seqs[r.Seq] = true
	}
	for i := range uint64(50) {
		if !seqs[i] {
			t.Errorf("results miss seq %d (vegeta plot needs contiguous Seq)", i)
		}
	}
}

// TestRunDropped caps the workers below what the rate needs: the missing requests are
// reported as dropped instead of being sent late in a burst.
func TestRunDropped(t *testing.T) {
	rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		time.Sleep(100 * time.Millisecond)
	})
	p := loadProfile(profile.LoadSpec{Shape: "constant", Rate: 100, Workers: 2, MaxWorkers: 2}, time.Second, "no-retry")
	sum, err := Run(context.Background(), Config{Profile: p, BaseURL: rc.URL})
	if err != nil {
		t.Fatal(err)
	}
	// Two workers at 100 ms per request serve about 20 requests in the second.
	if sum.Planned != 100 || sum.Sent > 35 || sum.Sent < 10 || sum.Dropped != sum.Planned-sum.Sent {
		t.Fatalf("summary %+v: want 100 planned, about 20 sent, the rest dropped", sum)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if int64(len(rc.at)) != sum.Sent {
		t.Fatalf("server saw %d requests, summary says %d sent", len(rc.at), sum.Sent)
	}
}

// TestRunInterrupted cancels a run whose requests hang: Run returns promptly, marked
// interrupted, with what was received written.
func TestRunInterrupted(t *testing.T) {
	rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	p := loadProfile(profile.LoadSpec{Shape: "constant", Rate: 20}, 10*time.Second, "compliant")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	var results bytes.Buffer
	start := time.Now()
	sum, err := Run(ctx, Config{Profile: p, BaseURL: rc.URL, Results: &results})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Run returned %v after the start (cancelled at 500ms)", el)
	}
	if !sum.Interrupted || sum.Sent == 0 || sum.Failed != sum.Sent || sum.Planned > 15 {
		t.Fatalf("summary %+v: want interrupted, every sent operation failed, about 10 planned", sum)
	}
	n := int64(0)
	dec := vegeta.NewDecoder(&results)
	for {
		var r vegeta.Result
		if dec.Decode(&r) != nil {
			break
		}
		n++
	}
	if n != sum.Sent {
		t.Fatalf("%d results written, %d sent", n, sum.Sent)
	}
}

// TestRunDrain bounds the operations still in flight when the load ends.
func TestRunDrain(t *testing.T) {
	rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	p := loadProfile(profile.LoadSpec{Shape: "constant", Rate: 10}, 500*time.Millisecond, "no-retry")
	start := time.Now()
	sum, err := Run(context.Background(), Config{Profile: p, BaseURL: rc.URL, Drain: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Run took %v with a 300ms drain", el)
	}
	if sum.Interrupted || sum.Sent != 5 || sum.Failed != 5 {
		t.Fatalf("summary %+v: want 5 sent, all failed, not interrupted", sum)
	}
}

func TestRunProgress(t *testing.T) {
	rc := newRecorder(t, nil)
	p := loadProfile(profile.LoadSpec{Shape: "constant", Rate: 20}, time.Second, "no-retry")
	var buf syncBuffer
	_, err := Run(context.Background(), Config{Profile: p, BaseURL: rc.URL, Progress: &buf, ProgressEvery: 200 * time.Millisecond,
		Extra: func() string { return "faults 0" }})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || strings.Contains(out, "\r") {
		t.Fatalf("want several plain lines, got %q", out)
	}
	if !strings.Contains(lines[0], "| faults 0") || !strings.HasPrefix(lines[len(lines)-1], "load done") {
		t.Fatalf("progress %q", out)
	}
}

func TestRunErrors(t *testing.T) {
	good := loadProfile(profile.LoadSpec{Shape: "constant", Rate: 1}, time.Second, "no-retry")
	goKind := loadProfile(profile.LoadSpec{Shape: "constant", Rate: 1}, time.Second, "")
	goKind.Client.Kind = profile.KindGo
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no profile", Config{BaseURL: "http://127.0.0.1:1"}},
		{"no base URL", Config{Profile: good}},
		{"go kind without a client", Config{Profile: goKind, BaseURL: "http://127.0.0.1:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunUserClient drives a user's own client (client kind "go"): requests go through it,
// and attempts are counted when its attempt transport is wrapped in client.CountAttempts.
func TestRunUserClient(t *testing.T) {
	rc := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	p := loadProfile(profile.LoadSpec{Shape: "constant", Rate: 20}, 500*time.Millisecond, "")
	p.Client.Kind = profile.KindGo
	var outcomes bytes.Buffer
	user := &http.Client{Transport: retryOnce{client.CountAttempts(http.DefaultTransport)}}
	sum, err := Run(context.Background(), Config{Profile: p, BaseURL: rc.URL, Client: user, Outcomes: &outcomes})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 10 || sum.Succeeded != 10 {
		t.Fatalf("summary %+v", sum)
	}
	sc := bufio.NewScanner(&outcomes)
	for sc.Scan() {
		var o Outcome
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		if o.Attempts != 2 || o.Status != 200 {
			t.Errorf("outcome %+v: want 2 attempts counted, status 200", o)
		}
	}
}

// retryOnce is a user's retrying RoundTripper: it repeats a 502 once.
type retryOnce struct{ next http.RoundTripper }

func (r retryOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusBadGateway {
		return resp, err
	}
	resp.Body.Close()
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return r.next.RoundTrip(again)
}

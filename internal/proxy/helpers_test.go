package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// syncBuffer is a bytes.Buffer safe for the journal's flusher and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var epoch = time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC)

type harness struct {
	t        *testing.T
	p        *Proxy
	url      string
	addr     string
	buf      *syncBuffer
	jw       *journal.Writer
	upstream *httptest.Server
	hits     *countingHandler
	clock    *fakeClock
	done     chan error
	stopped  bool
}

type countingHandler struct {
	mu sync.Mutex
	n  int
	h  http.Handler
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *countingHandler) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// echo answers 200 with "ok" and echoes the method; POSTs answer 201.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Upstream-Host", r.Host)
	w.Header().Set("X-Upstream-Auth", r.Header.Get("Authorization"))
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusCreated)
	}
	_, _ = io.WriteString(w, "ok "+r.Method+" "+r.URL.RequestURI())
})

type harnessOpt func(*Config)

func withClock(c *fakeClock) harnessOpt {
	return func(cfg *Config) { cfg.Now = c.Now; cfg.Start = c.Now() }
}

func withSeed(s int64) harnessOpt { return func(cfg *Config) { cfg.Seed = s } }

func withToken(tok string) harnessOpt { return func(cfg *Config) { cfg.AdminToken = tok } }

func withReset(f func()) harnessOpt { return func(cfg *Config) { cfg.OnReset = f } }

func newHarness(t *testing.T, prof *profile.Profile, upstream http.Handler, opts ...harnessOpt) *harness {
	t.Helper()
	if upstream == nil {
		upstream = echo
	}
	h := &harness{t: t, buf: &syncBuffer{}, hits: &countingHandler{h: upstream}, done: make(chan error, 1)}
	h.upstream = httptest.NewServer(h.hits)
	h.jw = journal.NewWriter(h.buf)
	// NOFAST=1 runs the suite with every request on the fasthttp path.
	cfg := Config{Target: h.upstream.URL, Profile: prof, Journal: h.jw, Seed: 7, NoFastPath: os.Getenv("NOFAST") != ""}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	h.url = "http://" + h.addr
	go func() { h.done <- p.Serve(ln) }()
	t.Cleanup(func() { h.stop(); h.upstream.Close() })
	return h
}

// stop shuts the proxy down and closes the journal.
func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.p.Shutdown(ctx); err != nil {
		h.t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Error("Serve did not return after Shutdown")
	}
	if err := h.jw.Close(); err != nil {
		h.t.Errorf("journal Close: %v", err)
	}
}

// records stops the proxy and returns the journal.
func (h *harness) records() []journal.Record {
	h.t.Helper()
	h.stop()
	rd := journal.NewReader(bytes.NewReader(h.buf.Bytes()), "journal")
	var out []journal.Record
	for {
		var r journal.Record
		err := rd.Next(&r)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, r)
	}
}

// client is a keep-alive HTTP client without retries of its own.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

type req struct {
	method  string
	path    string
	body    string
	headers map[string]string
}

func (h *harness) do(r req) (*http.Response, string, error) {
	h.t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr, err := http.NewRequest(r.method, h.url+r.path, strings.NewReader(r.body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	resp, err := client.Do(hr)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func (h *harness) mustDo(r req) (*http.Response, string) {
	h.t.Helper()
	resp, body, err := h.do(r)
	if err != nil {
		h.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return resp, body
}

// raw sends bytes on a fresh connection and returns everything read until close.
func (h *harness) raw(data string) string {
	h.t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, data); err != nil {
		h.t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

func hdr(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// shutdownWhileInFlight sends n requests at once, shuts the proxy down once the upstream has
// seen all of them (they are then in flight) and returns the journal and the statuses the
// clients got.
func (h *harness) shutdownWhileInFlight(n int) ([]journal.Record, []int) {
	h.t.Helper()
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := range n {
		wg.Go(func() {
			resp, _, err := h.do(req{path: fmt.Sprintf("/%d", i)})
			if err == nil {
				statuses <- resp.StatusCode
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.hits.count() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	recs := h.records()
	wg.Wait()
	close(statuses)
	var got []int
	for s := range statuses {
		got = append(got, s)
	}
	return recs, got
}

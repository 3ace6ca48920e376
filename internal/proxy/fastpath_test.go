//go:build linux

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

func withoutFastPath() harnessOpt { return func(cfg *Config) { cfg.NoFastPath = true } }

// fastUpstream answers like a real API: statuses, Retry-After, the target's execution
// header, hop-by-hop headers the proxy must drop, and a chunked body on /stream.
var fastUpstream = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Upstream-Host", r.Host)
	w.Header().Set("X-Seen-Hop", r.Header.Get("Keep-Alive")+r.Header.Get("Connection"))
	w.Header().Set("Keep-Alive", "timeout=5")
	w.Header().Set("Connection", "X-Secret-Hop")
	w.Header().Set("X-Secret-Hop", "must not pass")
	switch {
	case strings.HasPrefix(r.URL.Path, "/busy"):
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusServiceUnavailable)
	case strings.HasPrefix(r.URL.Path, "/date"):
		w.Header().Set("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")
		w.WriteHeader(http.StatusTooManyRequests)
	case strings.HasPrefix(r.URL.Path, "/replay"):
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set(hdrExecuted, "false")
	case strings.HasPrefix(r.URL.Path, "/stream"):
		fl := w.(http.Flusher)
		for i := range 3 {
			fmt.Fprintf(w, "part %d;", i)
			fl.Flush()
		}
		return
	case r.Method == http.MethodPost:
		w.WriteHeader(http.StatusCreated)
	}
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, "%s %s %d bytes", r.Method, r.URL.RequestURI(), len(b))
	}
})

// TestFastPathJournalsAsFasthttpPath sends the same requests through the event loops and
// through fasthttp: the clients see the same answers and the journals hold the same
// records, field for field (times aside).
func TestFastPathJournalsAsFasthttpPath(t *testing.T) {
	skipWithoutFastPath(t)
	reqs := []req{
		{method: "GET", path: "/v1/calls/call_1?expand=x", headers: hdr("Authorization", "Bearer sk_a", "X-Retrylab-Op", "op-1")},
		{method: "GET", path: "/v1/calls/call_1?expand=x", headers: hdr("Authorization", "Bearer sk_a", "X-Retrylab-Op", "op-1")},
		{method: "POST", path: "/v1/calls", body: `{"to":"+1555"}`, headers: hdr("X-Api-Key", "sk_b", "Idempotency-Key", "key-1")},
		{method: "POST", path: "/v1/calls", body: `{"to":"+1555"}`, headers: hdr("X-Api-Key", "sk_b", "Idempotency-Key", "key-1")},
		{method: "POST", path: "/v1/calls", body: "", headers: hdr("Authorization", "bearer  sk_c ")},
		{method: "HEAD", path: "/v1/calls", headers: hdr("Authorization", "Bearer sk_a")},
		{method: "DELETE", path: "/v1/calls/call_2", headers: hdr("Authorization", "Bearer sk_a")},
		{method: "GET", path: "/busy", headers: hdr("Authorization", "Bearer sk_a")},
		{method: "GET", path: "/date", headers: hdr("Authorization", "Bearer sk_a")},
		{method: "POST", path: "/replay", body: "x", headers: hdr("Authorization", "Bearer sk_a")},
		{method: "GET", path: "/stream", headers: hdr("Authorization", "Bearer sk_a")},
		{method: "GET", path: "/hop", headers: hdr("Authorization", "Bearer sk_a", "Connection", "keep-alive")},
	}
	type answer struct {
		status int
		body   string
		hdrs   string
	}
	run := func(opts ...harnessOpt) ([]answer, []journal.Record) {
		h := newHarness(t, nil, fastUpstream, opts...)
		var out []answer
		for _, r := range reqs {
			resp, body := h.mustDo(r)
			var hs []string
			for _, k := range []string{"X-Upstream-Host", "X-Seen-Hop", "Keep-Alive", "X-Secret-Hop", "Retry-After", "Idempotent-Replayed", "Content-Type"} {
				v := resp.Header.Get(k)
				if k == "X-Upstream-Host" { // each harness has its own upstream port
					v, _, _ = strings.Cut(v, ":")
				}
				hs = append(hs, k+"="+v)
			}
			if resp.Header.Get("Date") == "" {
				t.Errorf("%s %s: no Date header", r.method, r.path)
			}
			out = append(out, answer{resp.StatusCode, body, strings.Join(hs, " ")})
		}
		recs := h.records()
		for i := range recs {
			recs[i].Time, recs[i].Mono, recs[i].DurNs = 0, 0, 0
		}
		return out, recs
	}
	fastAns, fastRecs := run()
	slowAns, slowRecs := run(withoutFastPath())
	if len(fastRecs) != len(reqs) || len(slowRecs) != len(reqs) {
		t.Fatalf("records: fast %d, fasthttp %d, want %d", len(fastRecs), len(slowRecs), len(reqs))
	}
	for i := range reqs {
		if fastAns[i] != slowAns[i] {
			t.Errorf("%s %s: answer\nfast     %+v\nfasthttp %+v", reqs[i].method, reqs[i].path, fastAns[i], slowAns[i])
		}
		if fastRecs[i] != slowRecs[i] {
			t.Errorf("%s %s: record\nfast     %+v\nfasthttp %+v", reqs[i].method, reqs[i].path, fastRecs[i], slowRecs[i])
		}
	}
	if got := fastAns[len(fastAns)-1].hdrs; !strings.Contains(got, "X-Seen-Hop= ") || !strings.Contains(got, "Keep-Alive= ") || !strings.Contains(got, "X-Secret-Hop= ") {
		t.Errorf("hop-by-hop headers passed: %s", got)
	}
	if fastRecs[1].Attempt != 2 || fastRecs[3].Attempt != 2 || fastRecs[7].RetryAfterMs != 3000 ||
		fastRecs[8].RetryAfter == "" || !fastRecs[2].Executed || fastRecs[3].IdemKey != "key-1" || !fastRecs[9].Replayed {
		t.Errorf("records lack what the upstream said: %+v", fastRecs)
	}
}

// rawConn is a client connection that writes bytes and reads answers one by one.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) write(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawConn) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.r, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatal(err)
	}
	resp.Body.Close()
	return resp, string(b)
}

func get(path, extra string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk_p\r\n" + extra + "\r\n"
}

// TestFastPathPipelining: requests written back to back on one connection are answered
// in order, each journaled once.
func TestFastPathPipelining(t *testing.T) {
	skipWithoutFastPath(t)
	h := newHarness(t, nil, fastUpstream)
	rc := dialRaw(t, h.addr)
	rc.write(get("/a", "") + "POST /b HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello" + get("/c", ""))
	for _, want := range []string{"GET /a 0 bytes", "POST /b 5 bytes", "GET /c 0 bytes"} {
		if _, body := rc.read("GET"); body != want {
			t.Errorf("body %q, want %q", body, want)
		}
	}
	recs := h.records()
	if len(recs) != 3 || recs[0].Path != "/a" || recs[1].Path != "/b" || recs[1].BodyHash == "" || recs[2].Path != "/c" {
		t.Errorf("records: %+v", recs)
	}
}

// TestFastPathRequestInPieces: a request that arrives a few bytes at a time is answered
// once it is whole.
func TestFastPathRequestInPieces(t *testing.T) {
	skipWithoutFastPath(t)
	h := newHarness(t, nil, fastUpstream)
	rc := dialRaw(t, h.addr)
	msg := "POST /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11\r\n\r\nhello world"
	for i := 0; i < len(msg); i += 7 {
		rc.write(msg[i:min(i+7, len(msg))])
		time.Sleep(2 * time.Millisecond)
	}
	if resp, body := rc.read("POST"); resp.StatusCode != 201 || body != "POST /v1/calls 11 bytes" {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
}

// TestFastPathClientCloses: Connection: close is honoured, and a client that half-closes
// after its request still gets the answer.
func TestFastPathClientCloses(t *testing.T) {
	skipWithoutFastPath(t)
	h := newHarness(t, nil, fastUpstream)
	out := h.raw(get("/x", "Connection: close\r\n") + get("/never", ""))
	if !strings.Contains(out, "GET /x 0 bytes") || strings.Contains(out, "/never") || !strings.Contains(out, "Connection: close") {
		t.Errorf("answer to Connection: close:\n%s", out)
	}

	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, get("/half", ""))
	c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	if !strings.Contains(string(b), "GET /half 0 bytes") {
		t.Errorf("half-closed client got %q", b)
	}
	if recs := h.records(); len(recs) != 2 {
		t.Errorf("%d records, want 2: %+v", len(recs), recs)
	}
}

// TestFastPathHandsOff: requests that are not plain, and every request once a rule is in
// force, go to the fault engine on the same connection; attempt numbers carry on.
func TestFastPathHandsOff(t *testing.T) {
	skipWithoutFastPath(t)
	h := newHarness(t, nil, fastUpstream)
	rc := dialRaw(t, h.addr)
	op := "X-Retrylab-Op: op-h\r\n"
	rc.write(get("/plain", op))
	if resp, _ := rc.read("GET"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if err := h.p.AddRule(profile.Fault{Name: "boom", Action: profile.FaultRespond, Status: 503}); err != nil {
		t.Fatal(err)
	}
	rc.write(get("/plain", op))
	if resp, _ := rc.read("GET"); resp.StatusCode != 503 {
		t.Errorf("after the rule was added: status %d, want 503", resp.StatusCode)
	}
	// A request fasthttp must handle (chunked body) on a fresh connection, with no rule.
	if err := h.p.updateRules("boom", func(rs []*rule, i int) []*rule {
		r := *rs[i]
		r.spec.Disabled = true
		rs[i] = &r
		return rs
	}); err != nil {
		t.Fatal(err)
	}
	rc2 := dialRaw(t, h.addr)
	rc2.write("POST /chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	if resp, body := rc2.read("POST"); resp.StatusCode != 201 || body != "POST /chunked 5 bytes" {
		t.Errorf("chunked request: %d %q", resp.StatusCode, body)
	}
	recs := h.records()
	if len(recs) != 3 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	if recs[0].Attempt != 1 || recs[1].Attempt != 2 || recs[1].Rule != "boom" || recs[1].Status != 503 || recs[2].Action != journal.ActionForward {
		t.Errorf("records: %+v", recs)
	}
}

// TestFastPathUpstreamAnswers: an answer delimited by the upstream closing its connection
// reaches the client with a Content-Length; an upstream that is down gives 502, journaled.
func TestFastPathUpstreamAnswers(t *testing.T) {
	skipWithoutFastPath(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Kind: eof\r\n\r\nuntil the end")
			}()
		}
	}()
	defer ln.Close()
	jw := journal.NewWriter(&syncBuffer{})
	p, err := New(Config{Target: "http://" + ln.Addr().String(), Journal: jw})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(pl) }()
	rc := dialRaw(t, pl.Addr().String())
	for range 2 { // the second goes out on a new upstream connection
		rc.write(get("/eof", ""))
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || body != "until the end" || resp.ContentLength != int64(len("until the end")) {
			t.Errorf("close-delimited answer: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
		}
	}
	ln.Close()
	time.Sleep(20 * time.Millisecond)
	rc.write(get("/down", ""))
	if resp, body := rc.read("GET"); resp.StatusCode != 502 || !strings.Contains(body, "bad_gateway") {
		t.Errorf("upstream down: %d %q", resp.StatusCode, body)
	}
	st := p.Stats()
	if st.Requests != 3 {
		t.Errorf("stats %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFastPathOnlyWhatNoRuleTouches: with rules in force, a request no rule's match and no
// rate limit selects stays on the event loops, and one they select goes to the engine,
// down to a header present with an empty value.
func TestFastPathOnlyWhatNoRuleTouches(t *testing.T) {
	skipWithoutFastPath(t)
	prof := &profile.Profile{
		Faults: []profile.Fault{
			{Name: "post-503", Action: profile.FaultRespond, Status: 503, Match: profile.Match{Method: "POST", Path: "/v1/calls"}},
			{Name: "flagged", Action: profile.FaultRespond, Status: 500, Match: profile.Match{Headers: map[string]string{"X-Fail": "*"}}},
		},
		RateLimits: []profile.RateLimit{{Name: "messages", Limit: 1000, Window: profile.Duration(time.Second), Path: "/v1/messages"}},
	}
	h := newHarness(t, prof, fastUpstream)
	rc := dialRaw(t, h.addr)
	rc.write(get("/v1/calls/call_1", ""))
	if resp, _ := rc.read("GET"); resp.StatusCode != 200 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if n := fastConns(h.p); n != 1 {
		t.Errorf("%d connections on the event loops after an untouched request, want 1", n)
	}
	rc.write("POST /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
	if resp, _ := rc.read("POST"); resp.StatusCode != 503 {
		t.Errorf("POST matched by a rule: %d, want 503", resp.StatusCode)
	}
	if n := fastConns(h.p); n != 0 {
		t.Errorf("%d connections on the event loops after a request a rule selects, want 0", n)
	}
	for _, tc := range []struct {
		req  string
		want int
	}{
		{get("/v1/x", "X-Fail:\r\n"), 500},
		{get("/v1/messages", ""), 200}, // limited: through the engine, allowed
		{get("/v1/y", ""), 200},
	} {
		c := dialRaw(t, h.addr)
		c.write(tc.req)
		if resp, _ := c.read("GET"); resp.StatusCode != tc.want {
			t.Errorf("%q: %d, want %d", tc.req, resp.StatusCode, tc.want)
		}
	}
	recs := h.records()
	if len(recs) != 5 || recs[1].Rule != "post-503" || recs[2].Rule != "flagged" || recs[3].Rule != "" {
		t.Errorf("records: %+v", recs)
	}
}

// fastConns counts the client connections the event loops serve.
func fastConns(p *Proxy) int {
	p.fastMu.Lock()
	fp := p.fast
	p.fastMu.Unlock()
	time.Sleep(20 * time.Millisecond) // let the loop finish the hand-off
	n := 0
	for _, l := range fp.loops {
		n += int(l.open.Load())
	}
	return n
}

// TestFastPathShutdownLosesNoRecord: requests the upstream is still working on when
// Shutdown begins are answered and journaled before it returns.
func TestFastPathShutdownLosesNoRecord(t *testing.T) {
	skipWithoutFastPath(t)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "done")
	})
	h := newHarness(t, nil, slow)
	const n = 20
	recs, statuses := h.shutdownWhileInFlight(n) // Shutdown while all n are at the upstream
	if len(recs) != n {
		t.Fatalf("%d records after shutdown, want %d", len(recs), n)
	}
	for _, s := range statuses {
		if s != 200 {
			t.Errorf("client got %d", s)
		}
	}
	if len(statuses) != n {
		t.Errorf("%d clients got an answer, want %d", len(statuses), n)
	}
}

// FuzzPlainRequest: whatever the bytes, the fast path's parser does not panic, and a head
// it calls plain is one fasthttp reads the same way: method, path, Host, Content-Length and
// the headers the journal and the matchers read.
func FuzzPlainRequest(f *testing.F) {
	for _, s := range []string{
		"GET /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"POST /v1/calls?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nContent-Length: 2\r\nAuthorization: Bearer k\r\nIdempotency-Key: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:80\r\nX-Api-Key:  k \r\nConnection: close\r\nX-Retrylab-Op: o\r\n\r\n",
		"GET /a/../b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"GET http://evil/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	p, err := New(Config{Target: "http://127.0.0.1:9"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end := bytes.Index(b, crlf2)
		if end < 0 {
			return
		}
		head := b[:end+4]
		var rq plainRequest
		if !rq.parse(head[:end+2], p) {
			return
		}
		var fh fasthttp.RequestHeader
		if err := fh.Read(bufio.NewReader(bytes.NewReader(head))); err != nil {
			t.Fatalf("plain to the fast path, refused by fasthttp (%v):\n%q", err, head)
		}
		if string(fh.Method()) != string(rq.method) || string(fh.Host()) != string(rq.Peek("Host")) ||
			fh.ContentLength() != rq.contentLength && !(rq.contentLength == 0 && fh.ContentLength() <= 0) {
			t.Fatalf("read differently: method %q/%q host %q/%q length %d/%d\n%q", fh.Method(), rq.method,
				fh.Host(), rq.Peek("Host"), fh.ContentLength(), rq.contentLength, head)
		}
		var uri fasthttp.URI
		uri.DisablePathNormalizing = false
		uri.SetPathBytes(rq.path)
		if string(uri.Path()) != string(rq.path) {
			t.Fatalf("path %q would be journaled by fasthttp as %q", rq.path, uri.Path())
		}
		for _, name := range []string{"Authorization", "X-Api-Key", "Idempotency-Key", "X-Retrylab-Op"} {
			if got, want := rq.Peek(name), fh.Peek(name); string(got) != string(want) || (got == nil) != (want == nil) {
				t.Fatalf("%s: %q, fasthttp %q\n%q", name, got, want, head)
			}
		}
	})
}

// TestFastPathClientFarAhead: a client that pipelines far more than one request ahead of
// its answers is read in step with them, and every request is answered in order.
func TestFastPathClientFarAhead(t *testing.T) {
	skipWithoutFastPath(t)
	prof := &profile.Profile{Proxy: profile.Proxy{MaxHeaderBytes: 1024, MaxBodyBytes: 1024}}
	h := newHarness(t, prof, fastUpstream)
	rc := dialRaw(t, h.addr)
	const n = 300
	var all strings.Builder
	for i := range n {
		all.WriteString(get(fmt.Sprintf("/r%d", i), ""))
	}
	go io.WriteString(rc.c, all.String()) // ~20 KB, far beyond the 2 KB a client may be ahead
	for i := range n {
		if _, body := rc.read("GET"); body != fmt.Sprintf("GET /r%d 0 bytes", i) {
			t.Fatalf("answer %d: %q", i, body)
		}
	}
	if recs := h.records(); len(recs) != n {
		t.Errorf("%d records, want %d", len(recs), n)
	}
}

// skipWithoutFastPath skips a test of the event loops when the suite runs on the fasthttp
// path alone (NOFAST=1 go test ./internal/proxy).
func skipWithoutFastPath(t *testing.T) {
	if os.Getenv("NOFAST") != "" {
		t.Skip("NOFAST: every request on the fasthttp path")
	}
}

// TestFastPathLargeAndEmptyBodies: bodies larger than a read, both ways, and answers
// without a body (204, 304) pass whole and in order on one connection.
func TestFastPathLargeAndEmptyBodies(t *testing.T) {
	skipWithoutFastPath(t)
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, big)
		case "/echo":
			w.Write(b)
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.WriteHeader(http.StatusNotModified)
		}
	})
	h := newHarness(t, &profile.Profile{Proxy: profile.Proxy{MaxBodyBytes: 2 << 20}}, up)
	rc := dialRaw(t, h.addr)
	body := big[:700_000]
	rc.write(get("/big", "") + fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s", len(body), body) +
		get("/nocontent", "") + get("/notmodified", "") + get("/big", ""))
	for i, want := range []struct {
		status int
		body   string
	}{{200, big}, {200, body}, {204, ""}, {304, ""}, {200, big}} {
		resp, got := rc.read("GET")
		if resp.StatusCode != want.status || got != want.body {
			t.Errorf("answer %d: %d, %d bytes; want %d, %d bytes", i, resp.StatusCode, len(got), want.status, len(want.body))
		}
	}
	if recs := h.records(); len(recs) != 5 || recs[1].BodyHash == "" || recs[2].Status != 204 {
		t.Errorf("records: %+v", recs)
	}
}

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

func TestRejectedRequestsJournalTheirPath(t *testing.T) {
	prof := &profile.Profile{Proxy: profile.Proxy{MaxHeaderBytes: 4096, MaxBodyBytes: 1024}}
	h := newHarness(t, prof, nil)
	big := "X-Big: " + strings.Repeat("a", 5000) + "\r\n"
	tests := []struct {
		name         string
		raw          string
		status       int
		method, path string
	}{
		{"header larger than the limit", "GET /v1/calls/big?key=secret HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer secret-in-big-header\r\n" + big + "\r\n", 431, "GET", "/v1/calls/big"},
		{"bad header line", "POST /v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\n: no name\r\n\r\n", 400, "POST", "/v1/agents"},
		{"header value with a control byte", "DELETE /v1/agents/7 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x01b\r\n\r\n", 400, "DELETE", "/v1/agents/7"},
		{"empty lines before the request line", "\r\n\r\nPUT /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + "\r\n", 431, "PUT", "/v1/x"},
		{"body larger than the limit", "POST /v1/calls?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000\r\n\r\n" + strings.Repeat("b", 2000), 413, "POST", "/v1/calls"},
		{"no request line", "GET\r\nHost: 127.0.0.1\r\n\r\n", 400, "", ""},
		{"request line longer than fasthttp quotes", "GET /" + strings.Repeat("p", 300) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + "\r\n", 431, "", ""},
		{"absolute-form request line", "GET http://127.0.0.1/v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + "\r\n", 431, "GET", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := h.raw(tt.raw)
			if !strings.HasPrefix(out, fmt.Sprintf("HTTP/1.1 %d ", tt.status)) {
				t.Errorf("got %q, want status %d", out, tt.status)
			}
		})
	}
	// A malformed request after a good one on a keep-alive connection journals its own path.
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "GET /first HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	_, _ = io.WriteString(c, "GET /second HTTP/1.1\r\nHost: 127.0.0.1\r\n"+big+"\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 431 {
		t.Fatalf("second request: %v %v", resp, err)
	}

	recs := h.records()
	if len(recs) != len(tests)+2 {
		t.Fatalf("%d records, want %d", len(recs), len(tests)+2)
	}
	for i, tt := range tests {
		r := recs[i]
		if r.Action != journal.ActionReject || r.Status != tt.status || r.Method != tt.method || r.Path != tt.path {
			t.Errorf("%s: record %s %q %q status %d, want %s %q %q", tt.name, r.Action, r.Method, r.Path, r.Status, journal.ActionReject, tt.method, tt.path)
		}
	}
	if r := recs[len(tests)+1]; r.Path != "/second" || r.Status != 431 {
		t.Errorf("keep-alive: record %+v, want path /second", r)
	}
	if strings.Contains(string(h.buf.Bytes()), "secret") {
		t.Error("a credential reached the journal")
	}
}

func TestQuotedRequestLine(t *testing.T) {
	tests := []struct {
		msg, line string
		ok        bool
	}{
		{`error when reading request headers: small read buffer. Increase ReadBufferSize: buffer size=40, contents: "GET /a HTTP/1.1\r\nHost: x\r\n"`, "GET /a HTTP/1.1", true},
		{`error when reading request headers: invalid header key "": buffer size=9, contents: "GET /b HTTP/1.1\n: x\n\n"`, "GET /b HTTP/1.1", true},
		// A quoted header value cannot pass for fasthttp's own quote.
		{`error when reading request headers: invalid header value "x, contents: \"GET /evil HTTP/1.1\r\n": buffer size=9, contents: "GET /c HTTP/1.1\r\nX: y\r\n"`, "GET /c HTTP/1.1", true},
		{`error when reading request headers: small read buffer: buffer size=4096, contents: "GET /aaaa"..."aaaa\r\n"`, "", false},
		{`error when reading request headers: small read buffer: buffer size=4096`, "", false},
		{`error when reading request headers: x: buffer size=3, contents: "GET`, "", false},
	}
	for _, tt := range tests {
		line, ok := quotedRequestLine(tt.msg)
		if line != tt.line || ok != tt.ok {
			t.Errorf("quotedRequestLine(%q) = %q, %v; want %q, %v", tt.msg, line, ok, tt.line, tt.ok)
		}
	}
	for _, l := range []string{"GET", "GET /", "GET / FTP/1.0", " / HTTP/1.1", "G(T / HTTP/1.1", "GET  HTTP/1.1"} {
		if _, _, ok := splitRequestLine(l); ok {
			t.Errorf("splitRequestLine(%q) accepted", l)
		}
	}
	if m, target, ok := splitRequestLine("PATCH /x?y HTTP/1.0"); !ok || m != "PATCH" || target != "/x?y" {
		t.Errorf("splitRequestLine: %q %q %v", m, target, ok)
	}
}

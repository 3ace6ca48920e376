package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/retrylab/retrylab/internal/journal"
	"github.com/retrylab/retrylab/internal/profile"
)

// keepAliveConn is one raw client connection to the proxy.
type keepAliveConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAliveConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &keepAliveConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (k *keepAliveConn) send(paths ...string) {
	k.t.Helper()
	var b strings.Builder
	for _, p := range paths {
		b.WriteString("GET " + p + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	}
	if _, err := io.WriteString(k.c, b.String()); err != nil {
		k.t.Fatal(err)
	}
}

// read reads one response; body errors are returned, not fatal.
func (k *keepAliveConn) read() (*http.Response, string, error) {
	k.t.Helper()
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(body), err
}

func (k *keepAliveConn) mustRead(wantBody string) *http.Response {
	k.t.Helper()
	resp, body, err := k.read()
	if err != nil || resp.StatusCode != 200 || body != wantBody {
		k.t.Fatalf("got %v %q %v, want 200 %q", resp, body, err, wantBody)
	}
	return resp
}

// closed reports whether the proxy has closed the connection (EOF or reset, no more bytes).
func (k *keepAliveConn) closed() error {
	_, err := k.br.ReadByte()
	return err
}

var slowProfile = &profile.Profile{Faults: []profile.Fault{
	{Name: "slow", Action: "slow_body", Bytes: 3, Interval: profile.Duration(time.Millisecond), Match: profile.Match{Path: "/slow"}},
	{Name: "cut", Action: "truncate", Bytes: 2, Match: profile.Match{Path: "/cut"}},
	{Name: "rst", Action: "reset", Match: profile.Match{Path: "/reset"}},
}}

func TestSlowBodyKeepsConnectionAlive(t *testing.T) {
	h := newHarness(t, slowProfile, nil)
	k := dialKeepAlive(t, h.addr)
	k.send("/slow/1")
	if resp := k.mustRead("ok GET /slow/1"); resp.Close {
		t.Errorf("slow_body answered Connection: close to a keep-alive request: %v", resp.Header)
	}
	k.send("/fast")
	k.mustRead("ok GET /fast")
	// Again on the connection handed back, then a pipelined pair: the second request,
	// already buffered when the first is answered, is served on the same connection.
	k.send("/slow/2")
	k.mustRead("ok GET /slow/2")
	k.send("/slow/3", "/after-pipelined")
	k.mustRead("ok GET /slow/3")
	k.mustRead("ok GET /after-pipelined")
	// The reset fault still resets a connection that was handed back.
	k.send("/reset")
	if _, _, err := k.read(); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("reset after slow_body: %v, want ECONNRESET", err)
	}
	recs := h.records()
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action+" "+r.Path)
		if r.Action == journal.ActionSlowBody && (r.Status != 200 || r.Err != "") {
			t.Errorf("slow_body record %+v", r)
		}
	}
	want := "slow_body /slow/1,forward /fast,slow_body /slow/2,slow_body /slow/3,forward /after-pipelined,reset /reset"
	if got := strings.Join(actions, ","); got != want {
		t.Errorf("journal\n got %s\nwant %s", got, want)
	}
	if n := h.hits.count(); n != 5 {
		t.Errorf("target saw %d requests, want 5", n)
	}
}

func TestSlowBodyAndTruncateClose(t *testing.T) {
	h := newHarness(t, slowProfile, nil)
	// A request asking for close gets it after a complete slow body.
	k := dialKeepAlive(t, h.addr)
	if _, err := io.WriteString(k.c, "GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp := k.mustRead("ok GET /slow"); !resp.Close {
		t.Errorf("no Connection: close: %v", resp.Header)
	}
	if err := k.closed(); err != io.EOF {
		t.Errorf("after slow_body with Connection: close: %v, want EOF", err)
	}
	// truncate closes a keep-alive connection: the client cannot know where the body ended.
	k = dialKeepAlive(t, h.addr)
	k.send("/cut")
	if _, body, err := k.read(); !errors.Is(err, io.ErrUnexpectedEOF) || body != "ok" {
		t.Errorf("truncate: %q %v, want 2 bytes and an unexpected EOF", body, err)
	}
	if err := k.closed(); err == nil {
		t.Error("truncate left the connection open")
	}
}

func TestSlowBodyCutShortByShutdownCloses(t *testing.T) {
	prof := &profile.Profile{Faults: []profile.Fault{
		{Name: "slow", Action: "slow_body", Bytes: 1, Interval: profile.Duration(time.Hour)},
	}}
	h := newHarness(t, prof, nil)
	k := dialKeepAlive(t, h.addr)
	k.send("/slow")
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Close {
		t.Errorf("headers of a keep-alive request say Connection: close")
	}
	var first [1]byte
	if _, err := io.ReadFull(resp.Body, first[:]); err != nil || first[0] != 'o' {
		t.Fatalf("first byte %q %v", first, err)
	}
	recs := h.records() // shuts down: the wait of the second chunk ends
	rest, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(rest) != 0 {
		t.Errorf("after shutdown: %q %v, want an unexpected EOF", rest, err)
	}
	if len(recs) != 1 || recs[0].Action != journal.ActionSlowBody || !strings.Contains(recs[0].Err, "cut short by shutdown") {
		t.Errorf("records %+v", recs)
	}
}

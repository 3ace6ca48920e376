package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawTarget is a loopback target that records every request head it reads and answers each
// with the next of its canned responses; a response containing "close" in its Connection
// header ends that connection.
type rawTarget struct {
	addr string

	mu    sync.Mutex
	heads []string
	conns int
}

func newRawTarget(t *testing.T, responses ...string) *rawTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rt := &rawTarget{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rt.mu.Lock()
			rt.conns++
			rt.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var head strings.Builder
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						head.WriteString(line)
						if line == "\r\n" {
							break
						}
					}
					rt.mu.Lock()
					resp := responses[len(rt.heads)%len(responses)]
					rt.heads = append(rt.heads, head.String())
					rt.mu.Unlock()
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
					if strings.Contains(strings.ToLower(resp), "connection: close") {
						return
					}
				}
			})
		}
	})
	return rt
}

func (rt *rawTarget) seen() ([]string, int) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.heads...), rt.conns
}

// serveRaw starts a proxy without a journal in front of target and returns its address.
func serveRaw(t *testing.T, target string) string {
	t.Helper()
	p, err := New(Config{Target: "http://" + target, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// headerNames returns the lower-cased header names of a raw head.
func headerNames(head string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

func TestHopByHopHeadersAreNotForwarded(t *testing.T) {
	rt := newRawTarget(t,
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Bar, close\r\nX-Bar: 1\r\nKeep-Alive: timeout=5\r\nTe: x\r\nProxy-Authenticate: Basic\r\nProxy-Connection: keep-alive\r\nX-Keep: yes\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Baz\r\nX-Baz: 1\r\nX-Keep: yes\r\n\r\nok",
	)
	addr := serveRaw(t, rt.addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	// Two requests on one keep-alive connection: the target closing its connection after
	// the first does not close the client's. The second asks for close; the proxy closes.
	reqs := []string{
		"GET /hop/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: X-Foo, keep-alive\r\nX-Foo: 1\r\nTe: trailers\r\nKeep-Alive: 5\r\nProxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\nX-Keep: yes\r\nCookie: a=1; b=\"q\"\r\nCookie: c=2\r\n\r\n",
		"GET /hop/2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: X-Foo, close\r\nConnection: x-qux\r\nX-Foo: 1\r\nX-Qux: 2\r\nTe: trailers\r\nKeep-Alive: 5\r\nUpgrade: websocket\r\nX-Keep: yes\r\n\r\n",
	}
	for i, r := range reqs {
		if _, err := io.WriteString(c, r); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %q", i+1, resp.StatusCode, body)
		}
		for _, k := range []string{"X-Bar", "X-Baz", "Keep-Alive", "Te", "Proxy-Authenticate", "Proxy-Connection"} {
			if v, ok := resp.Header[k]; ok {
				t.Errorf("response %d carries the target's hop-by-hop %s: %q", i+1, k, v)
			}
		}
		if resp.Header.Get("X-Keep") != "yes" {
			t.Errorf("response %d lost an end-to-end header: %v", i+1, resp.Header)
		}
		wantClose := i == 1
		if resp.Close != wantClose {
			t.Errorf("response %d: close %v, want %v (%v)", i+1, resp.Close, wantClose, resp.Header)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close: %v, want EOF", err)
	}
	heads, conns := rt.seen()
	if len(heads) != 2 {
		t.Fatalf("target saw %d requests", len(heads))
	}
	if conns != 2 {
		t.Errorf("target saw %d connections, want 2 (it closed the first)", conns)
	}
	for i, head := range heads {
		names := headerNames(head)
		for _, k := range []string{"connection", "x-foo", "x-qux", "te", "keep-alive", "proxy-authorization", "proxy-connection", "upgrade"} {
			if v, ok := names[k]; ok {
				t.Errorf("request %d reached the target with hop-by-hop %s: %q\n%s", i+1, k, v, head)
			}
		}
		if names["x-keep"] != "yes" || names["host"] != rt.addr {
			t.Errorf("request %d: end-to-end headers lost or Host not the target's:\n%s", i+1, head)
		}
	}
	// Cookies pass as sent, even ones fasthttp's cookie parser would drop.
	if !strings.Contains(heads[0], "Cookie: a=1; b=\"q\"\r\n") || !strings.Contains(heads[0], "Cookie: c=2\r\n") {
		t.Errorf("cookies changed on the way:\n%s", heads[0])
	}
}

func TestHopScan(t *testing.T) {
	tests := []struct {
		conn  string
		names bool
	}{
		{"close", false},
		{"keep-alive", false},
		{" Keep-Alive , CLOSE ", false},
		{"", false},
		{",,", false},
		{"X-Foo", true},
		{"close, X-Foo", true},
		{"keep-alive,upgrade", true},
	}
	for _, tt := range tests {
		if got := namesFields([]byte(tt.conn)); got != tt.names {
			t.Errorf("namesFields(%q) = %v, want %v", tt.conn, got, tt.names)
		}
	}
	for i, name := range hopNames {
		for _, k := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			if got := hopBit([]byte(k)); got != 1<<i {
				t.Errorf("hopBit(%q) = %b, want %b", k, got, 1<<i)
			}
		}
	}
	raw := "Host: 127.0.0.1\r\nUser-Agent: x\r\nCONNECTION: x-foo\r\nte : trailers\r\nContent-Type: a\r\n" +
		"X-Te: 1\r\nUpgrade-Insecure-Requests: 1\r\n folded: continuation\r\nproxy-authorization:Basic eA==\r\nKeep-Alive: 5"
	var s hopScan
	s.scanRaw([]byte(raw))
	if want := hopConnection | hopTe | hopProxyAuthorization | hopKeepAlive; s.mask != want {
		t.Errorf("scanRaw: mask %08b, want %08b", s.mask, want)
	}
	for _, k := range []string{"", "T", "Tee", "Trailers", "Connectionx", "X-Api-Key", "Authorization", "Proxy-Authorizatio"} {
		if got := hopBit([]byte(k)); got != 0 {
			t.Errorf("hopBit(%q) = %b, want 0", k, got)
		}
	}
}

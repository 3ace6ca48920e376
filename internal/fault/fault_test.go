package fault

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/profile"
)

var now0 = time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC)

const upstreamBody = "0123456789abcdefghij" // 20 bytes

// testHost answers Forward with a canned 201 and records waits without sleeping.
type testHost struct {
	mu       sync.Mutex
	forwards int
	waits    []time.Duration
	stop     bool // Wait reports shutdown
}

func (h *testHost) Forward(x *Exchange) error {
	h.mu.Lock()
	h.forwards++
	h.mu.Unlock()
	x.Ctx.Response.SetStatusCode(201)
	x.Ctx.Response.Header.Set("Location", "/v1/calls/1")
	x.Ctx.Response.SetBodyString(upstreamBody)
	x.Forwarded, x.UpstreamStatus = true, 201
	return nil
}

func (h *testHost) Wait(d time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waits = append(h.waits, d)
	return !h.stop
}

func (h *testHost) Now() time.Time { return now0 }

// serveFault serves f on a loopback listener and returns its address and the exchanges seen.
func serveFault(t *testing.T, f Fault, h *testHost, rnd uint64) (string, chan Exchange) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan Exchange, 8)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		x := Exchange{Ctx: ctx, Host: h, Rand: rnd}
		f.Apply(&x)
		seen <- x
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), seen
}

// rawRoundTrip sends one request with Connection: close and reads until the server closes.
func rawRoundTrip(t *testing.T, addr string) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "POST /v1/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"); err != nil {
		t.Fatal(err)
	}
	return io.ReadAll(c)
}

func parse(t *testing.T, data []byte) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func mustNew(t *testing.T, spec profile.Fault) Fault {
	t.Helper()
	f, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRespond(t *testing.T) {
	tests := []struct {
		name       string
		spec       profile.Fault
		status     int
		retryAfter string // "-" = absent
		body       func(t *testing.T, b []byte)
	}{
		{
			name:       "503 with delay-seconds rounded up and the seed000 body",
			spec:       profile.Fault{Status: 503, RetryAfter: profile.Duration(1500 * time.Millisecond)},
			status:     503,
			retryAfter: "2",
			body: func(t *testing.T, b []byte) {
				var v struct {
					Error struct {
						Code      string `json:"code"`
						Message   string `json:"message"`
						RequestID string `json:"request_id"`
					}
				}
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("body %q: %v", b, err)
				}
				if v.Error.Code != "service_unavailable" || v.Error.RequestID != "req_00000000000000ff" || v.Error.Message == "" {
					t.Errorf("body = %+v", v)
				}
			},
		},
		{
			name:       "429 with an HTTP-date and the seed002 body",
			spec:       profile.Fault{Status: 429, RetryAfter: profile.Duration(12 * time.Second), RetryAfterForm: "http-date", Body: "seed002"},
			status:     429,
			retryAfter: "Wed, 06 May 2026 12:00:12 GMT",
			body: func(t *testing.T, b []byte) {
				var v struct {
					Error      string `json:"error"`
					Message    string `json:"message"`
					RetryAfter int    `json:"retry_after"`
				}
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("body %q: %v", b, err)
				}
				if v.Error != "rate_limited" || v.RetryAfter != 12 {
					t.Errorf("body = %+v", v)
				}
			},
		},
		{
			name: "500 plain without Retry-After", spec: profile.Fault{Status: 500, Body: "plain"},
			status: 500, retryAfter: "-",
			body: func(t *testing.T, b []byte) {
				if string(b) != "Internal Server Error\n" {
					t.Errorf("body = %q", b)
				}
			},
		},
		{
			name: "empty Retry-After and empty body", spec: profile.Fault{Status: 503, RetryAfterForm: "empty", Body: "empty"},
			status: 503, retryAfter: "",
			body: func(t *testing.T, b []byte) {
				if len(b) != 0 {
					t.Errorf("body = %q", b)
				}
			},
		},
		{name: "negative", spec: profile.Fault{Status: 429, RetryAfter: profile.Duration(3 * time.Second), RetryAfterForm: "negative"}, status: 429, retryAfter: "-3"},
		{name: "garbage", spec: profile.Fault{Status: 429, RetryAfterForm: "garbage"}, status: 429, retryAfter: GarbageRetryAfter},
		{name: "huge", spec: profile.Fault{Status: 503, RetryAfterForm: "huge"}, status: 503, retryAfter: HugeRetryAfter},
		{name: "408", spec: profile.Fault{Status: 408}, status: 408, retryAfter: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Action = "respond"
			h := &testHost{}
			addr, seen := serveFault(t, mustNew(t, tt.spec), h, 0xff)
			data, err := rawRoundTrip(t, addr)
			if err != nil {
				t.Fatal(err)
			}
			resp, body, err := parse(t, data)
			if err != nil {
				t.Fatalf("%q: %v", data, err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			vals, present := resp.Header["Retry-After"]
			switch {
			case tt.retryAfter == "-" && present:
				t.Errorf("Retry-After = %q, want none", vals)
			case tt.retryAfter != "-" && (!present || vals[0] != tt.retryAfter):
				t.Errorf("Retry-After = %q (present %v), want %q", vals, present, tt.retryAfter)
			}
			if tt.body != nil {
				tt.body(t, body)
			}
			x := <-seen
			if x.Status != tt.status || x.Forwarded || h.forwards != 0 {
				t.Errorf("exchange status %d forwarded %v forwards %d", x.Status, x.Forwarded, h.forwards)
			}
		})
	}
}

func TestLoseResponse(t *testing.T) {
	tests := []struct {
		name   string
		spec   profile.Fault
		status int // 0 = connection reset
	}{
		{"502 by default", profile.Fault{}, 502},
		{"504", profile.Fault{Status: 504}, 504},
		{"reset after the target executed", profile.Fault{Reset: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Action = "lose_response"
			h := &testHost{}
			addr, seen := serveFault(t, mustNew(t, tt.spec), h, 1)
			data, err := rawRoundTrip(t, addr)
			x := <-seen
			if h.forwards != 1 || !x.Forwarded || x.UpstreamStatus != 201 {
				t.Fatalf("forwards %d, exchange %+v: the target must execute the request", h.forwards, x)
			}
			if tt.status == 0 {
				if !errors.Is(err, syscall.ECONNRESET) || len(data) != 0 {
					t.Fatalf("got %q, %v; want a reset before any byte", data, err)
				}
				if !x.NoResponse {
					t.Error("NoResponse = false")
				}
				return
			}
			resp, body, perr := parse(t, data)
			if perr != nil {
				t.Fatal(perr)
			}
			if resp.StatusCode != tt.status || bytes.Contains(body, []byte(upstreamBody)) {
				t.Errorf("status %d body %q: want %d without the target's body", resp.StatusCode, body, tt.status)
			}
		})
	}
	if _, err := New(profile.Fault{Action: "lose_response", Status: 404}); err == nil {
		t.Error("lose_response with status 404 accepted")
	}
}

func TestDelay(t *testing.T) {
	tests := []struct {
		name      string
		spec      profile.Fault
		rnd       uint64
		want      time.Duration
		waitFirst bool
	}{
		{"fixed before", profile.Fault{Delay: profile.Duration(250 * time.Millisecond)}, 0, 250 * time.Millisecond, true},
		{"fixed after", profile.Fault{Delay: profile.Duration(250 * time.Millisecond), When: "after"}, 0, 250 * time.Millisecond, false},
		{"random low end", profile.Fault{Delay: profile.Duration(100 * time.Millisecond), DelayMax: profile.Duration(200 * time.Millisecond)}, 0, 100 * time.Millisecond, true},
		{"random midpoint", profile.Fault{Delay: profile.Duration(100 * time.Millisecond), DelayMax: profile.Duration(200 * time.Millisecond)}, 1 << 63, 150 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Action = "delay"
			h := &testHost{}
			order := []string{}
			f := mustNew(t, tt.spec)
			oh := &orderHost{testHost: h, order: &order}
			addr, seen := serveFaultHost(t, f, oh, tt.rnd)
			data, err := rawRoundTrip(t, addr)
			if err != nil {
				t.Fatal(err)
			}
			if resp, body, err := parse(t, data); err != nil || resp.StatusCode != 201 || string(body) != upstreamBody {
				t.Fatalf("response %q: %v", data, err)
			}
			<-seen
			if len(h.waits) != 1 || h.waits[0] < tt.want-time.Millisecond || h.waits[0] > tt.want+time.Millisecond {
				t.Errorf("waits = %v, want [%v]", h.waits, tt.want)
			}
			first := "wait"
			if !tt.waitFirst {
				first = "forward"
			}
			if len(order) != 2 || order[0] != first {
				t.Errorf("order = %v, want %s first", order, first)
			}
		})
	}
	bad := []profile.Fault{
		{Action: "delay"},
		{Action: "delay", Delay: profile.Duration(time.Second), DelayMax: profile.Duration(time.Millisecond)},
		{Action: "delay", Delay: profile.Duration(time.Second), When: "during"},
	}
	for _, spec := range bad {
		if _, err := New(spec); err == nil {
			t.Errorf("%+v accepted", spec)
		}
	}
}

// orderHost records whether Wait or Forward came first.
type orderHost struct {
	*testHost
	order *[]string
}

func (o *orderHost) Forward(x *Exchange) error {
	*o.order = append(*o.order, "forward")
	return o.testHost.Forward(x)
}

func (o *orderHost) Wait(d time.Duration) bool {
	*o.order = append(*o.order, "wait")
	return o.testHost.Wait(d)
}

func serveFaultHost(t *testing.T, f Fault, h Host, rnd uint64) (string, chan Exchange) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan Exchange, 8)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		x := Exchange{Ctx: ctx, Host: h, Rand: rnd}
		f.Apply(&x)
		seen <- x
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), seen
}

func TestResetHangTruncateSlowBody(t *testing.T) {
	tests := []struct {
		name  string
		spec  profile.Fault
		stop  bool
		check func(t *testing.T, data []byte, err error, h *testHost, x Exchange)
	}{
		{
			name: "reset sends RST before any byte and never forwards",
			spec: profile.Fault{Action: "reset"},
			check: func(t *testing.T, data []byte, err error, h *testHost, x Exchange) {
				if !errors.Is(err, syscall.ECONNRESET) || len(data) != 0 || h.forwards != 0 {
					t.Errorf("data %q err %v forwards %d", data, err, h.forwards)
				}
			},
		},
		{
			name: "hang holds for hang_for then closes without a response",
			spec: profile.Fault{Action: "hang", HangFor: profile.Duration(2 * time.Second)},
			check: func(t *testing.T, data []byte, err error, h *testHost, x Exchange) {
				if err != nil || len(data) != 0 || h.forwards != 0 {
					t.Errorf("data %q err %v forwards %d", data, err, h.forwards)
				}
				if len(h.waits) != 1 || h.waits[0] != 2*time.Second || !x.NoResponse {
					t.Errorf("waits %v NoResponse %v", h.waits, x.NoResponse)
				}
			},
		},
		{
			name: "hang defaults to 30s and stops at shutdown",
			spec: profile.Fault{Action: "hang"}, stop: true,
			check: func(t *testing.T, data []byte, err error, h *testHost, x Exchange) {
				if len(h.waits) != 1 || h.waits[0] != profile.DefaultHangFor || !strings.Contains(x.Err, "shutdown") {
					t.Errorf("waits %v err %q", h.waits, x.Err)
				}
			},
		},
		{
			name: "truncate sends the headers and the first bytes",
			spec: profile.Fault{Action: "truncate", Bytes: 5},
			check: func(t *testing.T, data []byte, err error, h *testHost, x Exchange) {
				head, body, ok := bytes.Cut(data, []byte("\r\n\r\n"))
				if err != nil || !ok || string(body) != upstreamBody[:5] || !bytes.Contains(head, []byte("Content-Length: 20")) {
					t.Errorf("data %q err %v", data, err)
				}
				if _, _, perr := parse(t, data); perr == nil {
					t.Error("a truncated response parsed whole")
				}
				if x.Status != 201 || !x.NoResponse || h.forwards != 1 {
					t.Errorf("exchange %+v", x)
				}
			},
		},
		{
			name: "truncate is always short of the body",
			spec: profile.Fault{Action: "truncate", Bytes: 1000},
			check: func(t *testing.T, data []byte, err error, h *testHost, x Exchange) {
				_, body, _ := bytes.Cut(data, []byte("\r\n\r\n"))
				if len(body) != len(upstreamBody)-1 {
					t.Errorf("body %q", body)
				}
			},
		},
		{
			name: "slow_body dribbles every byte in chunks",
			spec: profile.Fault{Action: "slow_body", Bytes: 8, Interval: profile.Duration(50 * time.Millisecond)},
			check: func(t *testing.T, data []byte, err error, h *testHost, x Exchange) {
				resp, body, perr := parse(t, data)
				if perr != nil || resp.StatusCode != 201 || string(body) != upstreamBody {
					t.Fatalf("data %q err %v", data, perr)
				}
				want := []time.Duration{50 * time.Millisecond, 50 * time.Millisecond} // 8+8+4 bytes
				if len(h.waits) != len(want) || h.waits[0] != want[0] {
					t.Errorf("waits %v, want %v", h.waits, want)
				}
				if x.NoResponse {
					t.Error("NoResponse after a complete slow body")
				}
			},
		},
		{
			name: "slow_body stops at shutdown",
			spec: profile.Fault{Action: "slow_body", Bytes: 4}, stop: true,
			check: func(t *testing.T, data []byte, err error, h *testHost, x Exchange) {
				_, body, _ := bytes.Cut(data, []byte("\r\n\r\n"))
				if string(body) != upstreamBody[:4] || !x.NoResponse || h.waits[0] != DefaultSlowInterval {
					t.Errorf("body %q exchange %+v waits %v", body, x, h.waits)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &testHost{stop: tt.stop}
			addr, seen := serveFault(t, mustNew(t, tt.spec), h, 0)
			data, err := rawRoundTrip(t, addr)
			x := <-seen
			tt.check(t, data, err, h, x)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		v    []byte
		ms   int64
		raw  string
	}{
		{"absent", nil, -1, ""},
		{"seconds", []byte("12"), 12000, ""},
		{"zero", []byte("0"), 0, ""},
		{"http-date", []byte("Wed, 06 May 2026 12:00:12 GMT"), 12000, "Wed, 06 May 2026 12:00:12 GMT"},
		{"http-date in the past", []byte("Wed, 06 May 2026 11:00:00 GMT"), 0, "Wed, 06 May 2026 11:00:00 GMT"},
		{"empty", []byte{}, -1, ""},
		{"negative", []byte("-3"), -1, "-3"},
		{"garbage", []byte(GarbageRetryAfter), -1, GarbageRetryAfter},
		{"huge", []byte(HugeRetryAfter), -1, HugeRetryAfter},
		{"fraction", []byte("1.5"), -1, "1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, raw := ParseRetryAfter(tt.v, now0)
			if ms != tt.ms || raw != tt.raw {
				t.Errorf("got %d %q, want %d %q", ms, raw, tt.ms, tt.raw)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	want := []string{"delay", "hang", "lose_response", "reset", "respond", "slow_body", "truncate"}
	if got := Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Names = %v, want %v", got, want)
	}
	if _, err := New(profile.Fault{Name: "x", Action: "explode"}); !errors.Is(err, ErrUnknown) {
		t.Errorf("err = %v, want ErrUnknown", err)
	}
	bad := []profile.Fault{
		{Action: "respond", Status: 42},
		{Action: "respond", Body: "xml"},
		{Action: "respond", RetryAfterForm: "tomorrow"},
		{Action: "truncate", Bytes: -1},
		{Action: "slow_body", Bytes: -1},
	}
	for _, spec := range bad {
		if _, err := New(spec); err == nil {
			t.Errorf("%+v accepted", spec)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"12", "", "-1", "soon", HugeRetryAfter, "Wed, 06 May 2026 12:00:12 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, raw := ParseRetryAfter([]byte(s), now0)
		if ms < -1 {
			t.Fatalf("%q: ms %d", s, ms)
		}
		if raw == "" && ms >= 0 && !isDigits([]byte(s)) {
			t.Fatalf("%q: non-digits parsed as delay-seconds", s)
		}
	})
}

// connHost is a testHost that takes connections back (ConnServer).
type connHost struct {
	*testHost
	served chan net.Conn
}

func (h *connHost) ServeConn(c net.Conn) {
	h.served <- c
	_ = c.Close()
}

func TestSlowBodyHandsBackKeepAliveConnections(t *testing.T) {
	spec := profile.Fault{Action: "slow_body", Bytes: 8, Interval: profile.Duration(time.Millisecond)}
	keepAliveReq := "GET /v1/calls/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	tests := []struct {
		name      string
		host      Host
		req       string
		handsBack bool
	}{
		{"keep-alive request, host takes connections back", &connHost{testHost: &testHost{}, served: make(chan net.Conn, 1)}, keepAliveReq, true},
		{"Connection: close", &connHost{testHost: &testHost{}, served: make(chan net.Conn, 1)},
			"GET /v1/calls/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", false},
		{"HTTP/1.0", &connHost{testHost: &testHost{}, served: make(chan net.Conn, 1)},
			"GET /v1/calls/1 HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n", false},
		{"host without ConnServer", &testHost{}, keepAliveReq, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, seen := serveFaultHost(t, mustNew(t, spec), tt.host, 0)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tt.req); err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(c) // the server closes after the response either way
			resp, body, err := parse(t, data)
			if err != nil || string(body) != upstreamBody {
				t.Fatalf("data %q err %v", data, err)
			}
			if resp.Close == tt.handsBack {
				t.Errorf("Connection: close %v, want %v", resp.Close, !tt.handsBack)
			}
			if x := <-seen; x.NoResponse || x.Err != "" {
				t.Errorf("exchange %+v", x)
			}
			if ch, ok := tt.host.(*connHost); ok {
				select {
				case <-ch.served:
					if !tt.handsBack {
						t.Error("connection handed back")
					}
				default:
					if tt.handsBack {
						t.Error("connection not handed back")
					}
				}
			}
		})
	}
}

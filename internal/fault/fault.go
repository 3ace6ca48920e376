// Package fault holds the faults the proxy can inject, one per file, behind one small
// interface and a registry (as Toxiproxy's toxics): respond, lose_response, delay, reset,
// hang, truncate and slow_body. Adding a fault is one file that calls Register in its init
// and a test.
//
// A Fault acts on one Exchange: the request being served (a fasthttp.RequestCtx) and the
// proxy behind it (a Host that forwards to the target and waits interruptibly). Faults
// draw their randomness from Exchange.Rand, a number the proxy derives from the seed and
// the request's operation, attempt and rule, so a run is reproducible whatever the
// goroutine scheduling.
package fault

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/profile"
)

// Host is the proxy as faults see it.
type Host interface {
	// Forward sends the exchange's request to the target and leaves the target's answer
	// in x.Ctx.Response; it fills x.Forwarded, x.UpstreamStatus and x.Err.
	Forward(x *Exchange) error
	// Wait sleeps for d and reports true, or returns false early when the proxy shuts down.
	Wait(d time.Duration) bool
	// Now is the proxy's clock.
	Now() time.Time
}

// ConnServer is implemented by a Host that can go on serving requests on a client
// connection after a fault has written a complete response on it itself (slow_body). Faults
// close the connection when the Host lacks it.
type ConnServer interface {
	// ServeConn takes over c, a connection hijacked after a complete response (see
	// fasthttp.RequestCtx.Hijack), serves the requests that follow on it and closes it.
	ServeConn(c net.Conn)
}

// Exchange is one request a fault acts on, and what the fault did with it.
type Exchange struct {
	Ctx  *fasthttp.RequestCtx
	Host Host
	// Rand is a uniformly distributed 64-bit number for this decision (see package doc).
	Rand uint64

	// Filled by Host.Forward.
	Forwarded      bool
	UpstreamStatus int
	// Filled by the fault.
	Status     int    // status sent to the client when the fault answered itself; 0 = the response's status
	NoResponse bool   // no HTTP response (or only part of one) reached the client
	Err        string // what went wrong or was done to the connection, for the journal
}

// Float returns Rand as a number in [0, 1).
func (x *Exchange) Float() float64 { return float64(x.Rand>>11) / (1 << 53) }

// Reset prepares x for reuse.
func (x *Exchange) Reset() { *x = Exchange{} }

// Fault is one configured fault.
type Fault interface {
	// Apply handles the request: answers it, forwards it, or breaks the connection.
	Apply(x *Exchange)
}

var (
	_ Fault = (*Respond)(nil)
	_ Fault = (*LoseResponse)(nil)
	_ Fault = (*Delay)(nil)
	_ Fault = Reset{}
	_ Fault = (*Hang)(nil)
	_ Fault = (*Truncate)(nil)
	_ Fault = (*SlowBody)(nil)
)

// Factory builds a Fault from a rule; it validates the rule's fields for its action.
type Factory func(spec profile.Fault) (Fault, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// ErrUnknown is wrapped by New for an action no fault registered.
var ErrUnknown = errors.New("unknown fault action")

// Register makes a fault available under action. It panics on a duplicate name.
func Register(action string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[action]; dup {
		panic("fault: Register called twice for " + action)
	}
	registry[action] = f
}

// Names returns the registered actions, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New builds the Fault for spec.Action.
func New(spec profile.Fault) (Fault, error) {
	regMu.RLock()
	f := registry[spec.Action]
	regMu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("rule %q: %w %q (want one of %v)", spec.Name, ErrUnknown, spec.Action, Names())
	}
	flt, err := f(spec)
	if err != nil {
		return nil, fmt.Errorf("rule %q (%s): %w", spec.Name, spec.Action, err)
	}
	return flt, nil
}

// closeConn ends the connection after the handler returns without writing a response;
// with reset it sets SO_LINGER 0 first, so the close sends a TCP RST.
func closeConn(ctx *fasthttp.RequestCtx, reset bool) {
	if reset {
		if tc, ok := BaseConn(ctx.Conn()).(interface{ SetLinger(int) error }); ok {
			_ = tc.SetLinger(0)
		}
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(closeHijacked)
}

// closeHijacked closes a hijacked connection. On a server with KeepHijackedConns off
// fasthttp closes it anyway (and Close of the connection it hands over does nothing); the
// proxy's server keeps hijacked connections, so that slow_body can hand them back, and
// this is the close.
func closeHijacked(c net.Conn) { _ = c.Close() }

// BaseConn returns the connection under the wrappers that expose it with UnsafeConn
// (fasthttp's hijacked connections): the one to set socket options on.
func BaseConn(c net.Conn) net.Conn {
	for {
		u, ok := c.(interface{ UnsafeConn() net.Conn })
		if !ok {
			return c
		}
		c = u.UnsafeConn()
	}
}

// writeRaw writes b to the client connection outside fasthttp's response writer. Only
// faults that then close the connection use it.
func writeRaw(ctx *fasthttp.RequestCtx, b []byte) error {
	_, err := ctx.Conn().Write(b)
	return err
}

// upstreamHeader returns the upstream response's header block, with an exact
// Content-Length for the buffered body, and Connection: close unless keepAlive.
func upstreamHeader(resp *fasthttp.Response, keepAlive bool) []byte {
	resp.Header.SetContentLength(len(resp.Body()))
	if keepAlive {
		resp.Header.ResetConnectionClose()
	} else {
		resp.Header.SetConnectionClose()
	}
	return resp.Header.Header()
}

// Retry-After as the proxy writes it for each form.
const (
	// GarbageRetryAfter is the value of the "garbage" form.
	GarbageRetryAfter = "soon"
	// HugeRetryAfter is the value of the "huge" form: digits past any integer type.
	HugeRetryAfter = "99999999999999999999"
)

// retryAfterValue returns the Retry-After header value for d in form, and whether to send it.
func retryAfterValue(d time.Duration, form string, now time.Time) (string, bool) {
	secs := int64((d + time.Second - 1) / time.Second)
	switch form {
	case "", profile.RAFormSeconds:
		if d <= 0 {
			return "", false
		}
		return strconv.FormatInt(secs, 10), true
	case profile.RAFormHTTPDate:
		if d <= 0 {
			return "", false
		}
		// The date names a whole second; round up so the client waits at least d.
		at := now.Add(d)
		if at.Nanosecond() != 0 {
			at = at.Truncate(time.Second).Add(time.Second)
		}
		return at.UTC().Format(http.TimeFormat), true
	case profile.RAFormEmpty:
		return "", true
	case profile.RAFormNegative:
		return "-" + strconv.FormatInt(max(secs, 1), 10), true
	case profile.RAFormGarbage:
		return GarbageRetryAfter, true
	case profile.RAFormHuge:
		return HugeRetryAfter, true
	}
	return "", false
}

func checkRetryAfterForm(form string) error {
	switch form {
	case "", profile.RAFormSeconds, profile.RAFormHTTPDate, profile.RAFormEmpty,
		profile.RAFormNegative, profile.RAFormGarbage, profile.RAFormHuge:
		return nil
	}
	return fmt.Errorf("retry_after_form %q: want seconds, http-date, empty, negative, garbage or huge", form)
}

// ParseRetryAfter reads a Retry-After value as a client would: delay-seconds or an
// HTTP-date (relative to now, never negative). It returns the delay in ms and the raw value
// to journal: "" for plain delay-seconds, else the value itself. ms is -1 (journal's
// NoRetryAfter) for an absent, empty or malformed value.
func ParseRetryAfter(v []byte, now time.Time) (ms int64, raw string) {
	if v == nil {
		return -1, ""
	}
	if len(v) > 0 && len(v) <= 18 && isDigits(v) {
		n, _ := strconv.ParseInt(string(v), 10, 64)
		if n <= (1<<63-1)/1000 {
			return n * 1000, ""
		}
	}
	raw = string(v)
	if t, err := http.ParseTime(raw); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		ms := int64(d / time.Millisecond) // t.Sub saturates far dates; no overflow here
		if d%time.Millisecond != 0 {
			ms++
		}
		return ms, raw
	}
	return -1, raw
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

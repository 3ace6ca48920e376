package fault

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/profile"
)

func init() { Register(profile.FaultSlowBody, newSlowBody) }

// Default pacing of slow_body.
const (
	DefaultSlowBytes    = 16
	DefaultSlowInterval = 100 * time.Millisecond
)

// SlowBody forwards the request, sends the target's status line and headers at once, then
// dribbles the body `bytes` per chunk (default 16) every `interval` (default 100ms), and
// closes the connection after the last byte (the response says Connection: close).
type SlowBody struct {
	n        int
	interval time.Duration
}

func newSlowBody(spec profile.Fault) (Fault, error) {
	s := &SlowBody{n: spec.Bytes, interval: spec.Interval.D()}
	if s.n < 0 {
		return nil, fmt.Errorf("bytes %d is negative", s.n)
	}
	if s.n == 0 {
		s.n = DefaultSlowBytes
	}
	if s.interval <= 0 {
		s.interval = DefaultSlowInterval
	}
	return s, nil
}

// Apply forwards and dribbles the answer.
func (s *SlowBody) Apply(x *Exchange) {
	if err := x.Host.Forward(x); err != nil {
		writeError(x, fasthttp.StatusBadGateway, 0, "", BodySeed000, "bad_gateway", "Upstream unreachable")
		return
	}
	resp := &x.Ctx.Response
	body := resp.Body()
	x.Status = resp.StatusCode()
	err := writeRaw(x.Ctx, upstreamHeader(resp))
	sent := 0
	for err == nil && sent < len(body) {
		if sent > 0 && !x.Host.Wait(s.interval) {
			x.NoResponse = true
			x.Err = fmt.Sprintf("slow body cut short by shutdown after %d of %d bytes", sent, len(body))
			break
		}
		n := min(s.n, len(body)-sent)
		err = writeRaw(x.Ctx, body[sent:sent+n])
		sent += n
	}
	if err != nil {
		x.NoResponse = true
		x.Err = fmt.Sprintf("slow body after %d of %d bytes: %v", sent, len(body), err)
	}
	closeConn(x.Ctx, false)
}

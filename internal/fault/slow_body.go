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
// dribbles the body `bytes` per chunk (default 16) every `interval` (default 100ms). A body
// sent whole leaves the connection to the client as any answer would: kept alive for the
// next request when the request allowed it (HTTP/1.1 without Connection: close) and the
// Host can take the connection back (ConnServer), else closed after the last byte (the
// response then says Connection: close). A body cut short (shutdown, client gone) ends the
// connection: the client has the Content-Length to tell.
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
	// Read before Forward, which drops the request's Connection header.
	cs, _ := x.Host.(ConnServer)
	keepAlive := cs != nil && x.Ctx.Request.Header.IsHTTP11() && !x.Ctx.Request.Header.ConnectionClose()
	if err := x.Host.Forward(x); err != nil {
		writeError(x, fasthttp.StatusBadGateway, 0, "", BodySeed000, "bad_gateway", "Upstream unreachable")
		return
	}
	resp := &x.Ctx.Response
	body := resp.Body()
	x.Status = resp.StatusCode()
	err := writeRaw(x.Ctx, upstreamHeader(resp, keepAlive))
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
	if keepAlive && !x.NoResponse {
		x.Ctx.HijackSetNoResponse(true)
		x.Ctx.Hijack(cs.ServeConn)
		return
	}
	closeConn(x.Ctx, false)
}

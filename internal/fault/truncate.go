package fault

import (
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/profile"
)

func init() { Register(profile.FaultTruncate, newTruncate) }

// Truncate forwards the request, then sends the target's status line and headers (with the
// full Content-Length) and only the first `bytes` bytes of its body, and closes the
// connection. The cut is always at least one byte short of the body; an empty body is cut
// inside the header block instead.
type Truncate struct{ n int }

func newTruncate(spec profile.Fault) (Fault, error) {
	if spec.Bytes < 0 {
		return nil, fmt.Errorf("bytes %d is negative", spec.Bytes)
	}
	return &Truncate{n: spec.Bytes}, nil
}

// Apply forwards and sends a truncated answer.
func (t *Truncate) Apply(x *Exchange) {
	if err := x.Host.Forward(x); err != nil {
		writeError(x, fasthttp.StatusBadGateway, 0, "", BodySeed000, "bad_gateway", "Upstream unreachable")
		return
	}
	resp := &x.Ctx.Response
	body := resp.Body()
	head := upstreamHeader(resp, false)
	x.NoResponse = true
	x.Status = resp.StatusCode()
	var err error
	if len(body) == 0 {
		err = writeRaw(x.Ctx, head[:len(head)/2])
		x.Err = fmt.Sprintf("truncated inside the header after %d bytes", len(head)/2)
	} else {
		n := min(t.n, len(body)-1)
		if err = writeRaw(x.Ctx, head); err == nil {
			err = writeRaw(x.Ctx, body[:n])
		}
		x.Err = fmt.Sprintf("truncated after %d of %d body bytes", n, len(body))
	}
	if err != nil {
		x.Err += ": " + err.Error()
	}
	closeConn(x.Ctx, false)
}

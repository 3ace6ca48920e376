package fault

import (
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/profile"
)

func init() { Register(profile.FaultLoseResponse, newLoseResponse) }

// LoseResponse forwards the request, lets the target execute it, then throws the target's
// answer away: the client gets a 502 (default), 500, 503 or 504 in the seed000 shape, or a
// connection reset. The side effect happened upstream; only a client with idempotency
// keys (and a target honouring them) avoids doing it twice on retry.
type LoseResponse struct {
	status int
	reset  bool
	code   string
	msg    string
	spec   profile.Fault
}

func newLoseResponse(spec profile.Fault) (Fault, error) {
	l := &LoseResponse{status: spec.Status, reset: spec.Reset, spec: spec}
	if l.status == 0 {
		l.status = fasthttp.StatusBadGateway
	}
	switch l.status {
	case 500, 502, 503, 504:
	default:
		return nil, fmt.Errorf("status %d: a lost response is answered 500, 502, 503 or 504", l.status)
	}
	if err := checkRetryAfterForm(spec.RetryAfterForm); err != nil {
		return nil, err
	}
	l.code, l.msg = errorCode(l.status)
	return l, nil
}

// Apply forwards, then loses the answer.
func (l *LoseResponse) Apply(x *Exchange) {
	if err := x.Host.Forward(x); err != nil {
		// The target did not answer: pass its failure on as the proxy's own 502.
		writeError(x, fasthttp.StatusBadGateway, 0, "", BodySeed000, "bad_gateway", "Upstream unreachable")
		return
	}
	if l.reset {
		x.Ctx.Response.Reset()
		x.NoResponse = true
		x.Err = "connection reset after the target answered"
		closeConn(x.Ctx, true)
		return
	}
	writeError(x, l.status, l.spec.RetryAfter.D(), l.spec.RetryAfterForm, BodySeed000, l.code, l.msg)
}

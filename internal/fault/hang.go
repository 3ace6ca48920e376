package fault

import (
	"time"

	"github.com/retrylab/retrylab/internal/profile"
)

func init() { Register(profile.FaultHang, newHang) }

// Hang holds the request without answering for hang_for (default 30s), or until the proxy
// shuts down, then closes the connection. The request never reaches the target: it is the
// fault that exposes a client without a timeout.
type Hang struct{ d time.Duration }

func newHang(spec profile.Fault) (Fault, error) {
	d := spec.HangFor.D()
	if d <= 0 {
		d = profile.DefaultHangFor
	}
	return &Hang{d: d}, nil
}

// Apply holds, then closes.
func (h *Hang) Apply(x *Exchange) {
	x.NoResponse = true
	if x.Host.Wait(h.d) {
		x.Err = "hung up after " + h.d.String()
	} else {
		x.Err = "hang cut short by shutdown"
	}
	closeConn(x.Ctx, false)
}

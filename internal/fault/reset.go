package fault

import "github.com/retrylab/retrylab/internal/profile"

func init() { Register(profile.FaultReset, newReset) }

// Reset drops the connection with a TCP RST before any byte of a response: SO_LINGER 0,
// then close. The request never reaches the target.
type Reset struct{}

func newReset(profile.Fault) (Fault, error) { return Reset{}, nil }

// Apply resets the connection.
func (Reset) Apply(x *Exchange) {
	x.NoResponse = true
	x.Err = "connection reset"
	closeConn(x.Ctx, true)
}

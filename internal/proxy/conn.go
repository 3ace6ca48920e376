package proxy

import (
	"net"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// waitConn is a TCP connection tuned for request/response traffic on keep-alive
// connections, used on both sides of the proxy (accepted client connections and the
// HostClient's upstream connections). It behaves as the *net.TCPConn it wraps, with two
// differences in cost, none in behaviour:
//
//   - Read yields the processor (runtime.Gosched) before reading when the previous read
//     drained the socket. On a keep-alive connection the next request, or the upstream's
//     answer, has almost never arrived yet when the proxy starts reading, so a read at once
//     is a wasted system call (EAGAIN) followed by a park and a poller wake-up, two per
//     proxied request. Under load other connections have work to do; running it first
//     gives the peer time to answer, and the read that follows usually finds the data.
//     With nothing else to run the yield returns at once. Go's poller forgets readiness
//     at the start of each read, so the read itself cannot be skipped.
//   - SetReadDeadline and SetWriteDeadline skip re-arming the runtime timer when they only
//     push a deadline that is still more than deadlineSlack away later by less than
//     deadlineSlack. fasthttp re-arms its long (minutes) timeouts on every request, four
//     timer updates per proxied request; with the slack a timeout fires up to deadlineSlack
//     earlier than asked, never later, and a shortened or cleared deadline is always applied.
type waitConn struct {
	*net.TCPConn
	drained bool         // the last read returned less than asked: yield before the next one
	rdl     atomic.Int64 // armed read deadline in Unix ns; 0 = none
	wdl     atomic.Int64 // armed write deadline in Unix ns; 0 = none
}

// deadlineSlack is how much a long deadline may be moved later without re-arming the timer.
const deadlineSlack = time.Second

// newWaitConn wraps c; a connection that is not TCP is returned unchanged.
func newWaitConn(c net.Conn) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		return &waitConn{TCPConn: tc}
	}
	return c
}

// Read implements net.Conn. Errors are the *net.TCPConn's, unwrapped as a net.Conn's
// callers expect (io.EOF by identity).
func (c *waitConn) Read(b []byte) (int, error) {
	if c.drained {
		runtime.Gosched()
	}
	n, err := c.TCPConn.Read(b)
	c.drained = err == nil && n < len(b)
	return n, err
}

// SetReadDeadline implements net.Conn. Errors are the *net.TCPConn's, unwrapped as a
// net.Conn's callers expect.
func (c *waitConn) SetReadDeadline(t time.Time) error {
	d := deadlineNs(t)
	if coarseSkip(c.rdl.Load(), d) {
		return nil
	}
	c.rdl.Store(d)
	return c.TCPConn.SetReadDeadline(t)
}

// SetWriteDeadline implements net.Conn.
func (c *waitConn) SetWriteDeadline(t time.Time) error {
	d := deadlineNs(t)
	if coarseSkip(c.wdl.Load(), d) {
		return nil
	}
	c.wdl.Store(d)
	return c.TCPConn.SetWriteDeadline(t)
}

// SetDeadline implements net.Conn.
func (c *waitConn) SetDeadline(t time.Time) error {
	d := deadlineNs(t)
	c.rdl.Store(d)
	c.wdl.Store(d)
	return c.TCPConn.SetDeadline(t)
}

// deadlineNs is t in Unix nanoseconds, 0 for the zero time (no deadline).
func deadlineNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// coarseSkip reports whether moving the armed deadline to t (both Unix ns) may be skipped:
// both set, t later by less than deadlineSlack, and the armed one more than deadlineSlack
// away.
func coarseSkip(armed, t int64) bool {
	if armed == 0 || t == 0 || t < armed || t-armed >= int64(deadlineSlack) {
		return false
	}
	return armed-time.Now().UnixNano() > int64(deadlineSlack)
}

// waitListener wraps every accepted TCP connection in a waitConn.
type waitListener struct{ net.Listener }

// Accept implements net.Listener.
func (l waitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		// Unwrapped: fasthttp's Serve tells a temporary error from the end by its type.
		return nil, err
	}
	return newWaitConn(c), nil
}

// dialWait dials the upstream as fasthttp does by default (timeout 0: its default dial
// timeout) and wraps the connection.
func dialWait(addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	var err error
	if timeout > 0 {
		c, err = fasthttp.DialTimeout(addr, timeout)
	} else {
		c, err = fasthttp.Dial(addr)
	}
	if err != nil {
		// Unwrapped: HostClient tells timeouts (ErrDialTimeout) by identity.
		return nil, err
	}
	return newWaitConn(c), nil
}

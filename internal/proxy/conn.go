package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// waitConn is a TCP connection tuned for request/response traffic on keep-alive
// connections, used on both sides of the proxy (accepted client connections and the
// HostClient's upstream connections). It behaves as the *net.TCPConn it wraps, with two
// differences in cost, none in behaviour:
//
//   - Read waits for readability before the read system call when the previous read
//     drained the socket. A net.Conn always reads first and waits on EAGAIN; on a
//     keep-alive connection the next request (or the upstream's answer) has almost never
//     arrived yet when the proxy starts reading, so that first read is a wasted system call,
//     two per proxied request. The wait uses the runtime's poller (syscall.RawConn), so
//     deadlines and Close interrupt it as they interrupt a plain Read. When the previous read
//     filled the caller's buffer (more may be queued, and no new readiness event would
//     announce it) Read reads first, as net.Conn does.
//   - SetReadDeadline and SetWriteDeadline skip re-arming the runtime timer when they only
//     push a deadline that is still more than deadlineSlack away later by less than
//     deadlineSlack. fasthttp re-arms its long (minutes) timeouts on every request, four
//     timer updates per proxied request; with the slack a timeout fires up to deadlineSlack
//     earlier than asked, never later, and a shortened or cleared deadline is always applied.
type waitConn struct {
	*net.TCPConn
	rc      syscall.RawConn
	readFn  func(fd uintptr) bool
	buf     []byte // the caller's buffer during Read
	n       int
	err     error
	waited  bool // this Read has waited for readability once
	drained bool // the last read returned less than asked: wait before the next one
	rdl     atomic.Int64 // armed read deadline in Unix ns; 0 = none
	wdl     atomic.Int64 // armed write deadline in Unix ns; 0 = none
}

// deadlineSlack is how much a long deadline may be moved later without re-arming the timer.
const deadlineSlack = time.Second

// newWaitConn wraps c; a connection that is not TCP, or whose descriptor is unavailable,
// is returned unchanged.
func newWaitConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	wc := &waitConn{TCPConn: tc, rc: rc}
	wc.readFn = wc.rawRead
	return wc
}

// rawRead is the RawConn callback of Read: false asks the poller to wait for readability.
func (c *waitConn) rawRead(fd uintptr) bool {
	if !c.waited {
		c.waited = true
		return false
	}
	for {
		n, err := syscall.Read(int(fd), c.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false
		case err != nil:
			c.n, c.err = 0, os.NewSyscallError("read", err)
		case n == 0:
			c.n, c.err = 0, io.EOF
		default:
			c.n, c.err = n, nil
		}
		return true
	}
}

// Read implements net.Conn.
func (c *waitConn) Read(b []byte) (int, error) {
	if !c.drained || len(b) == 0 {
		n, err := c.TCPConn.Read(b)
		c.drained = err == nil && n < len(b)
		return n, err
	}
	c.buf, c.waited = b, false
	err := c.rc.Read(c.readFn)
	n, rerr := c.n, c.err
	c.buf, c.n, c.err = nil, 0, nil
	if err != nil {
		// RawConn wraps the poller's error (deadline, closed) as a "raw-read"; a plain
		// Read reports the same cause as a "read".
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		c.drained = false
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	if rerr == io.EOF {
		c.drained = false
		return 0, io.EOF
	}
	if rerr != nil {
		c.drained = false
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: rerr}
	}
	c.drained = n < len(b)
	return n, nil
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

// dialWait dials the upstream as fasthttp does by default and wraps the connection.
func dialWait(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := fasthttp.DialTimeout(addr, timeout)
	if err != nil {
		// Unwrapped: HostClient tells timeouts (ErrDialTimeout) by identity.
		return nil, err
	}
	return newWaitConn(c), nil
}

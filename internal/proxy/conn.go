package proxy

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/fault"
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

// maxPending bounds the bytes serveConn carries over from a hijacked connection's read
// buffer (pipelined requests); past it the connection is closed.
const maxPending = 1 << 20

// serveConn serves the requests that follow on a client connection that slow_body hijacked
// after sending a complete response. Bytes the client has already sent (a pipelined request
// read ahead into fasthttp's buffer) are carried over; the connection is then served by the
// server again as one it accepted, without fasthttp's hijack wrapper, so a connection that
// meets slow_body many times does not grow a chain of wrappers and buffers.
func (p *Proxy) serveConn(c net.Conn) {
	pending, err := drainPending(c)
	if err != nil {
		_ = c.Close()
		return
	}
	base := fault.BaseConn(c)
	if len(pending) > 0 {
		base = &prefixConn{Conn: base, pre: pending}
	}
	hc := &handedConn{Conn: base}
	hc.used.Store(len(pending) > 0)
	base = hc
	if !p.handBack(base) {
		_ = base.Close()
		return
	}
	defer p.handedOff(base)
	_ = p.srv.ServeConn(base) // closes base
}

// drainPending returns what c has already received and buffered but not delivered, without
// waiting for more: it reads with a deadline in the past, which fails at once when nothing
// is buffered (Go's poller checks the deadline before reading the socket).
func drainPending(c net.Conn) ([]byte, error) {
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return nil, err
	}
	var pending []byte
	var buf [4096]byte
	for {
		n, err := c.Read(buf[:])
		pending = append(pending, buf[:n]...)
		if len(pending) > maxPending {
			return nil, errors.New("too much pipelined data")
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return pending, nil
}

// prefixConn is a connection whose first reads return pre.
type prefixConn struct {
	net.Conn
	pre []byte
}

// Read implements net.Conn.
func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// UnsafeConn returns the connection under c (see fault.BaseConn).
func (c *prefixConn) UnsafeConn() net.Conn { return c.Conn }

// handedConn is a connection handed back to the server, which notes whether a request has
// come on it since: until one does, it is idle (its last response was complete), though
// fasthttp counts a connection it has just been given as new, and so not idle, for 5 s.
type handedConn struct {
	net.Conn
	used atomic.Bool
}

// Read implements net.Conn.
func (c *handedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.used.Load() {
		c.used.Store(true)
	}
	return n, err
}

// UnsafeConn returns the connection under c (see fault.BaseConn).
func (c *handedConn) UnsafeConn() net.Conn { return c.Conn }

// closeUnusedHanded closes the handed-back connections no request has come on yet: the
// server's shutdown would otherwise wait 5 s for each of them.
func (p *Proxy) closeUnusedHanded() {
	p.handedMu.Lock()
	defer p.handedMu.Unlock()
	for c := range p.handed {
		if hc, ok := c.(*handedConn); ok && !hc.used.Load() {
			_ = hc.Close()
		}
	}
}

// handBack registers a connection serveConn gives back to the server; false when the proxy
// is shutting down (the connection is then closed: its last response was complete).
func (p *Proxy) handBack(c net.Conn) bool {
	p.handedMu.Lock()
	defer p.handedMu.Unlock()
	if p.isClosing() || p.handedDone {
		return false
	}
	if p.handed == nil {
		p.handed = map[net.Conn]struct{}{}
	}
	p.handed[c] = struct{}{}
	p.handedWG.Add(1)
	return true
}

func (p *Proxy) handedOff(c net.Conn) {
	p.handedMu.Lock()
	delete(p.handed, c)
	p.handedMu.Unlock()
	p.handedWG.Done()
}

// closeHanded closes the handed-back connections the server's own shutdown did not see (one
// handed back while it finished) and waits for them to be done, or for ctx to end.
func (p *Proxy) closeHanded(ctx context.Context) error {
	p.handedMu.Lock()
	p.handedDone = true
	for c := range p.handed {
		_ = c.Close()
	}
	p.handedMu.Unlock()
	done := make(chan struct{})
	go func() {
		p.handedWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

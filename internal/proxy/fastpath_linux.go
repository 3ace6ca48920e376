//go:build linux

package proxy

import (
	"bytes"
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/retrylab/retrylab/internal/fault"
	"github.com/retrylab/retrylab/internal/journal"
)

// The fast path serves plain pass-through traffic on epoll event loops, the way nginx
// does: one OS thread per loop, each reading a socket only when epoll says it is
// readable, so no read is wasted and no goroutine is parked or woken per request. Each
// client connection gets its own upstream connection, and a request goes from the client
// to the upstream and its answer back without a copy into per-request objects.
//
// A connection stays on the fast path while its requests are plain: HTTP/1.1 in origin
// form with a Content-Length body (or none), a loopback Host, no upgrade, no Expect, no
// hop-by-hop header but Connection: keep-alive/close, nothing fasthttp would normalise,
// and no enabled fault rule and no rate limit that matches it. The first request that is not
// plain hands the whole connection, with the bytes already read, to the fasthttp server,
// which applies the fault engine to it and to everything after it on that connection.
// What a request journals and counts is the same on both paths.

// fastUpstreamTimeout bounds a request at the upstream, as the HostClient's ReadTimeout.
const fastUpstreamTimeout = 2 * time.Minute

// fastIdleTimeout closes a client connection without a request for this long, as the
// fasthttp server's IdleTimeout.
const fastIdleTimeout = 2 * time.Minute

// maxFastResponse bounds an upstream answer, as the HostClient's MaxResponseBodySize.
const maxFastResponse = 64 << 20

// fastPath is the set of event loops of one Serve.
type fastPath struct {
	p        *Proxy
	lfd      int
	up       syscall.Sockaddr
	upFamily int
	hl       *handoffListener
	loops    []*evloop
	wg       sync.WaitGroup
	stop     atomic.Bool
	maxAhead int // most bytes a client may have sent beyond the request being answered
}

// serveFast serves ln on event loops when it can (a TCP listener on Linux); handed-off
// connections go to the fasthttp server through a listener of their own. It reports
// false when the fast path does not apply, and then serves nothing.
func (p *Proxy) serveFast(ln net.Listener) (bool, error) {
	if p.cfg.NoFastPath {
		return false, nil
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return false, nil
	}
	upAddr, err := net.ResolveTCPAddr("tcp", p.hc.Addr)
	if err != nil {
		return false, nil
	}
	f, err := tl.File()
	if err != nil {
		return false, nil
	}
	// f, the listener's dup, stays open until serveFast returns.
	fp := &fastPath{p: p, lfd: int(f.Fd()), hl: newHandoffListener(ln.Addr()),
		maxAhead: p.srv.ReadBufferSize + p.srv.MaxRequestBodySize}
	if ip4 := upAddr.IP.To4(); ip4 != nil {
		sa := &syscall.SockaddrInet4{Port: upAddr.Port}
		copy(sa.Addr[:], ip4)
		fp.up, fp.upFamily = sa, syscall.AF_INET
	} else {
		sa := &syscall.SockaddrInet6{Port: upAddr.Port}
		copy(sa.Addr[:], upAddr.IP.To16())
		fp.up, fp.upFamily = sa, syscall.AF_INET6
	}
	if err := syscall.SetNonblock(fp.lfd, true); err != nil {
		f.Close()
		return false, nil
	}
	n := max(1, runtime.GOMAXPROCS(0))
	for range n {
		l, err := fp.newLoop()
		if err != nil {
			fp.closeLoops()
			f.Close()
			return false, nil
		}
		fp.loops = append(fp.loops, l)
	}
	fp.wg.Add(len(fp.loops))
	p.fastMu.Lock()
	p.fast = fp
	closed := p.isClosing()
	p.fastMu.Unlock()
	if closed { // Shutdown came first and did not see fp
		fp.stop.Store(true)
		fp.hl.Close()
	}
	for _, l := range fp.loops {
		go l.run()
	}
	// The fasthttp server serves the handed-off connections until Shutdown closes hl.
	err = p.srv.Serve(fp.hl)
	fp.shutdown()
	fp.wg.Wait()
	ln.Close()
	f.Close()
	return true, err
}

// shutdown tells the loops to stop accepting and to close each connection once its
// request in flight is answered.
func (fp *fastPath) shutdown() {
	if fp.stop.Swap(true) {
		return
	}
	for _, l := range fp.loops {
		l.wake()
	}
}

// wait waits for the loops to finish or for deadline to pass, then closes what is left.
func (fp *fastPath) wait(done <-chan struct{}) bool {
	ch := make(chan struct{})
	go func() { fp.wg.Wait(); close(ch) }()
	select {
	case <-ch:
		return true
	case <-done:
		return false
	}
}

func (fp *fastPath) closeLoops() {
	for _, l := range fp.loops {
		syscall.Close(l.epfd)
		syscall.Close(l.evfd)
	}
}

// evloop is one event loop: an epoll instance and the connections it serves.
type evloop struct {
	fp     *fastPath
	epfd   int
	evfd   int          // eventfd that wakes the loop for shutdown
	byFd   []*fconn     // connection of a client or upstream fd
	open   atomic.Int32 // client connections open
	events [128]syscall.EpollEvent
	now    time.Time // time of the current batch of events
	swept  time.Time
	rbuf   []byte // shared read buffer
	up     syscall.Sockaddr

	acceptPaused bool // the listener is out of the epoll set until acceptAt
	acceptAt     time.Time
	acceptLogged time.Time // when running out of descriptors was last logged
}

// acceptPause is how long a loop stops accepting after running out of descriptors.
const acceptPause = 100 * time.Millisecond

func (fp *fastPath) newLoop() (*evloop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		syscall.Close(epfd)
		return nil, e
	}
	l := &evloop{fp: fp, epfd: epfd, evfd: int(r), rbuf: make([]byte, 64<<10)}
	// Connect writes into the address it is given: each loop has its own.
	switch sa := fp.up.(type) {
	case *syscall.SockaddrInet4:
		c := *sa
		l.up = &c
	case *syscall.SockaddrInet6:
		c := *sa
		l.up = &c
	}
	if err := l.ctl(syscall.EPOLL_CTL_ADD, l.evfd, syscall.EPOLLIN); err != nil {
		return nil, err
	}
	// EPOLLEXCLUSIVE: one loop is woken per incoming connection.
	if err := l.ctl(syscall.EPOLL_CTL_ADD, fp.lfd, syscall.EPOLLIN|epollExclusive); err != nil {
		return nil, err
	}
	return l, nil
}

const epollExclusive = 1 << 28

func (l *evloop) ctl(op, fd int, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	return syscall.EpollCtl(l.epfd, op, fd, &ev)
}

func (l *evloop) wake() {
	one := uint64(1)
	syscall.Write(l.evfd, (*[8]byte)(unsafe.Pointer(&one))[:])
}

func (l *evloop) run() {
	defer l.fp.wg.Done()
	// One OS thread per loop: with two or more loops, a loop that moved between threads
	// after each epoll_wait cost 12% of requests/s (GOMAXPROCS=2, wrk, 4 rounds).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer l.fp.closeLoopFds(l)
	l.swept = time.Now()
	accepting := true
	for {
		stopping := l.fp.stop.Load()
		if stopping && accepting {
			accepting = false
			syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, l.fp.lfd, nil)
			l.closeIdle()
		}
		if stopping && l.open.Load() == 0 {
			return
		}
		timeout := 1000
		if l.acceptPaused {
			if !accepting || !time.Now().Before(l.acceptAt) {
				l.acceptPaused = false
				if accepting {
					l.ctl(syscall.EPOLL_CTL_ADD, l.fp.lfd, syscall.EPOLLIN|epollExclusive)
				}
			} else {
				timeout = int(acceptPause / time.Millisecond)
			}
		}
		n, err := syscall.EpollWait(l.epfd, l.events[:], timeout)
		if err != nil && err != syscall.EINTR {
			l.fp.p.logf("fast path: epoll: %v", err)
			return
		}
		l.now = time.Now()
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			fd := int(ev.Fd)
			switch {
			case fd == l.evfd:
				var b [8]byte
				syscall.Read(l.evfd, b[:])
			case fd == l.fp.lfd:
				if accepting {
					l.accept()
				}
			default:
				if c := l.conn(fd); c != nil {
					c.event(fd, ev.Events)
				}
			}
		}
		if l.now.Sub(l.swept) >= time.Second {
			l.sweep()
		}
	}
}

func (fp *fastPath) closeLoopFds(l *evloop) {
	for _, c := range l.byFd {
		if c != nil && c.l == l {
			c.close()
		}
	}
	syscall.Close(l.epfd)
	syscall.Close(l.evfd)
}

func (l *evloop) conn(fd int) *fconn {
	if fd < len(l.byFd) {
		return l.byFd[fd]
	}
	return nil
}

func (l *evloop) setConn(fd int, c *fconn) {
	for fd >= len(l.byFd) {
		l.byFd = append(l.byFd, make([]*fconn, max(64, len(l.byFd)))...)
	}
	l.byFd[fd] = c
}

func (l *evloop) accept() {
	for range 64 {
		nfd, _, err := syscall.Accept4(l.fp.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			switch err {
			case syscall.EAGAIN, syscall.EINTR, syscall.ECONNABORTED:
			case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
				// Out of descriptors or memory: the listener stays readable, so stop
				// watching it for a while instead of failing in a loop (as fasthttp's
				// accept loop sleeps), and let connections close meanwhile.
				if !l.acceptPaused {
					if l.now.Sub(l.acceptLogged) >= 10*time.Second { // one line per 10 s
						l.acceptLogged = l.now
						l.fp.p.logf("fast path: accept: %v; pausing accepts for %v at a time", err, acceptPause)
					}
					syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, l.fp.lfd, nil)
					l.acceptPaused, l.acceptAt = true, l.now.Add(acceptPause)
				}
			default:
				l.fp.p.logf("fast path: accept: %v", err)
			}
			return
		}
		syscall.SetsockoptInt(nfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		c := &fconn{l: l, cfd: nfd, ufd: -1, last: l.now}
		if err := l.ctl(syscall.EPOLL_CTL_ADD, nfd, syscall.EPOLLIN|syscall.EPOLLRDHUP); err != nil {
			syscall.Close(nfd)
			continue
		}
		l.setConn(nfd, c)
		l.open.Add(1)
	}
}

// closeIdle closes the connections without a request in flight (shutdown).
func (l *evloop) closeIdle() {
	for fd, c := range l.byFd {
		if c != nil && c.cfd == fd && !c.busy && len(c.out) == 0 {
			c.close()
		}
	}
}

// sweep enforces the timeouts.
func (l *evloop) sweep() {
	l.swept = l.now
	for fd, c := range l.byFd {
		if c == nil || c.cfd != fd {
			continue
		}
		switch {
		case c.busy && l.now.Sub(c.sent) >= fastUpstreamTimeout:
			c.upstreamFailed(errors.New("timeout"))
		case !c.busy && len(c.out) == 0 && l.now.Sub(c.last) >= fastIdleTimeout:
			c.close()
		case !c.busy && len(c.in) > 0 && l.now.Sub(c.reqStart) >= fastIdleTimeout:
			c.close() // a request that never completes, however slowly it trickles in
		}
	}
}

// fconn is one client connection on the fast path and its upstream connection.
type fconn struct {
	l         *evloop
	cfd, ufd  int
	in        []byte // client bytes read and not yet consumed
	uin       []byte // upstream bytes of the answer being read
	out       []byte // bytes for the client not yet written
	uout      []byte // bytes for the upstream not yet written
	outArmed  bool   // EPOLLOUT is armed on cfd
	uoutArmed bool
	connected bool      // ufd's connect completed
	reused    bool      // the request went out on an upstream connection used before
	busy      bool      // a request is at the upstream
	closing   bool      // close once the answer in flight is written (Connection: close, shutdown)
	gone      bool      // the client closed its side
	paused    bool      // cfd is not read: the client is too far ahead of its answers
	reqStart  time.Time // when the first byte of the request in c.in arrived
	unwatched bool      // cfd is not in the epoll set (gone, nothing to write)
	last      time.Time

	// The request in flight.
	start   time.Time // by Config.Now, for the record
	sent    time.Time // by the wall clock, for the upstream histogram and timeout
	rec     journal.Record
	head    bool   // HEAD: the answer has no body
	req     []byte // the request as sent upstream, kept to resend once on a stale connection
	strs    []byte // the record's strings
	retried bool
	rs      plainResponse // the upstream answer's head, once rsOK
	rsOK    bool
	hashB   [16]byte
	opBuf   []byte
}

func (c *fconn) close() {
	l := c.l
	if c.cfd >= 0 {
		l.setConn(c.cfd, nil)
		syscall.Close(c.cfd) // also drops it from epoll
		c.cfd = -1
		l.open.Add(-1)
	}
	c.closeUpstream()
}

func (c *fconn) closeUpstream() {
	if c.ufd >= 0 {
		c.l.setConn(c.ufd, nil)
		syscall.Close(c.ufd)
		c.ufd = -1
	}
	c.connected, c.uoutArmed, c.uout, c.uin = false, false, c.uout[:0], c.uin[:0]
}

// event handles epoll events on fd, the client's or the upstream's.
func (c *fconn) event(fd int, ev uint32) {
	if fd == c.cfd {
		if ev&syscall.EPOLLOUT != 0 {
			c.flushClient()
		}
		if ev&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && c.cfd >= 0 {
			c.readClient()
		}
		return
	}
	if fd == c.ufd {
		if ev&syscall.EPOLLOUT != 0 {
			c.flushUpstream()
		}
		if ev&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && c.ufd >= 0 {
			c.readUpstream()
		}
	}
}

func rawRead(fd int, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func rawWrite(fd int, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// writeOut writes *buf to the non-blocking socket fd until it is all written or the socket
// is full, and keeps in *buf what is left. It returns the error that broke the write, or 0.
func writeOut(fd int, buf *[]byte) syscall.Errno {
	for len(*buf) > 0 {
		n, e := rawWrite(fd, *buf)
		switch e {
		case 0:
			*buf = (*buf)[:copy(*buf, (*buf)[n:])]
		case syscall.EAGAIN:
			return 0
		case syscall.EINTR:
		default:
			return e
		}
	}
	return 0
}

func (c *fconn) readClient() {
	l := c.l
	n, e := rawRead(c.cfd, l.rbuf)
	switch {
	case e == syscall.EAGAIN || e == syscall.EINTR:
		return
	case e != 0 || n == 0:
		// The client closed its side (or the connection broke). A request at the upstream
		// is still answered, written if the socket takes it, and journaled, as on the
		// fasthttp path; then the connection closes.
		c.gone, c.closing = true, true
		if !c.busy && len(c.out) == 0 {
			c.close()
			return
		}
		c.setClientEvents(c.outArmed)
		return
	}
	if len(c.in) == 0 {
		c.reqStart = l.now
	}
	c.in = append(c.in, l.rbuf[:n]...)
	c.last = l.now
	if !c.busy {
		c.next()
	}
	// A client that sends far ahead of the answers is not read until it catches up.
	if len(c.in) > c.l.fp.maxAhead && !c.paused && c.cfd >= 0 {
		c.paused = true
		c.setClientEvents(c.outArmed)
	}
}

// next starts the next request in c.in, if it is whole.
func (c *fconn) next() {
	for c.cfd >= 0 && !c.busy && len(c.in) > 0 && len(c.out) == 0 && !c.closing {
		if !c.startRequest() {
			return
		}
	}
}

// startRequest parses the request at the start of c.in and sends it upstream. It returns
// false when the request is not whole yet, or when it handed the connection off.
func (c *fconn) startRequest() bool {
	p := c.l.fp.p
	in := c.in
	end := bytes.Index(in, crlf2)
	if end < 0 {
		if len(in) >= p.srv.ReadBufferSize || bytes.Contains(in, lf2) {
			c.handoff()
		}
		return false
	}
	var rq plainRequest
	if end+4 > p.srv.ReadBufferSize || !rq.parse(in[:end+2], p) {
		c.handoff()
		return false
	}
	total := end + 4 + rq.contentLength
	if rq.contentLength > p.srv.MaxRequestBodySize {
		c.handoff()
		return false
	}
	if len(in) < total {
		return false
	}
	client := p.keys.hash(rq.apiKey)
	if !p.untouched(&rq, client) {
		c.handoff()
		return false
	}
	body := in[end+4 : total]
	now := p.now() // Config.Now, as the fasthttp path
	c.start, c.sent = now, c.l.now
	c.head = rq.head
	c.retried = false
	if rq.close {
		c.closing = true
	}

	// The record, as handle fills it; its strings are copied, c.in moves on.
	s := c.strs[:0]
	s = append(s, rq.method...)
	s = append(s, rq.path...)
	s = append(s, rq.idemKey...)
	rec := &c.rec
	*rec = journal.Record{Time: now.UnixNano(), Mono: int64(p.mono(now)), RetryAfterMs: journal.NoRetryAfter,
		Action: journal.ActionForward}
	rec.Client = client
	op := rq.op
	if len(op) == 0 {
		fp := fnvAdd(fnvOffset, []byte(rec.Client))
		fp = fnvAdd(fnvAdd(fp, zeroByte), rq.method)
		fp = fnvAdd(fnvAdd(fp, zeroByte), rq.path)
		fp = fnvAdd(fnvAdd(fp, zeroByte), body)
		c.opBuf = appendHex64(append(c.opBuf[:0], "fp_"...), fp)
		op = c.opBuf
	}
	rec.Attempt = p.ops.next(op, now)
	s = append(s, op...)
	if len(body) > 0 && p.jw != nil { // the body hash is the journal's alone
		s = appendHex64(s, fnv64(body))
		if p.storeBodies {
			s = append(s, body...)
		}
	}
	c.strs = s
	k := 0
	take := func(n int) string {
		v := b2s(s[k : k+n])
		k += n
		return v
	}
	rec.Method = take(len(rq.method))
	rec.Path = take(len(rq.path))
	rec.IdemKey = take(len(rq.idemKey))
	rec.Op = take(len(op))
	if len(body) > 0 && p.jw != nil { // the body hash is the journal's alone
		rec.BodyHash = take(16)
		if p.storeBodies {
			rec.Body = take(len(body))
		}
	}

	// The request for the upstream: its own bytes, with Host set to the target and the
	// Connection header dropped.
	r := c.req[:0]
	r = append(r, in[:rq.lineEnd]...)
	r = append(r, "\r\nHost: "...)
	r = append(r, p.targetHost...)
	r = append(r, "\r\n"...)
	// The header lines but Host and Connection, in at most three copies.
	from := rq.lineEnd + 2
	for _, skip := range sortedSkips(rq.hostLine, rq.connLine) {
		if skip[0] >= 0 {
			r = append(r, in[from:skip[0]]...)
			from = skip[1]
		}
	}
	r = append(r, in[from:end+2]...)
	r = append(r, "\r\n"...)
	r = append(r, body...)
	c.req = r
	c.in = c.in[:copy(c.in, c.in[total:])]
	c.busy = true
	c.send()
	return true
}

// sortedSkips returns two line ranges in the order they lie in.
func sortedSkips(a, b [2]int) [2][2]int {
	if b[0] >= 0 && (a[0] < 0 || b[0] < a[0]) {
		return [2][2]int{b, a}
	}
	return [2][2]int{a, b}
}

var (
	crlf     = []byte("\r\n")
	crlf2    = []byte("\r\n\r\n")
	lf2      = []byte("\n\n")
	zeroByte = []byte{0}
)

// untouched reports whether no fault rule and no rate limit can apply to the request, so
// that the fault engine would forward it as it is: no rate limit and no enabled rule
// matches its method, path, headers and client. A rule's attempts, window and probability
// are not looked at; a rule that matches hands the request to the engine, which decides.
func (p *Proxy) untouched(rq *plainRequest, client string) bool {
	for i := range p.limitMatch {
		if p.limitMatch[i].match(rq, client) {
			return false
		}
	}
	for _, r := range *p.rules.Load() {
		if !r.spec.Disabled && r.m.match(rq, client) {
			return false
		}
	}
	return true
}

// send writes c.req to the upstream, dialing it first when needed.
func (c *fconn) send() {
	if c.ufd < 0 {
		if err := c.dial(); err != nil {
			c.upstreamFailed(err)
			return
		}
		c.reused = false
	} else {
		c.reused = true
	}
	c.uout = append(c.uout[:0], c.req...)
	c.uin, c.rsOK = c.uin[:0], false
	if c.connected {
		c.flushUpstream()
	}
}

func (c *fconn) dial() error {
	l := c.l
	fd, err := syscall.Socket(l.fp.upFamily, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	err = syscall.Connect(fd, l.up)
	if err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		return err
	}
	c.ufd, c.connected = fd, err == nil
	ev := uint32(syscall.EPOLLIN | syscall.EPOLLRDHUP)
	if !c.connected {
		ev |= syscall.EPOLLOUT
		c.uoutArmed = true
	}
	if err := l.ctl(syscall.EPOLL_CTL_ADD, fd, ev); err != nil {
		syscall.Close(fd)
		c.ufd = -1
		return err
	}
	l.setConn(fd, c)
	return nil
}

func (c *fconn) flushUpstream() {
	if !c.connected {
		v, err := syscall.GetsockoptInt(c.ufd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if err == nil && v != 0 {
			err = syscall.Errno(v)
		}
		if err != nil {
			c.upstreamFailed(err)
			return
		}
		c.connected = true
	}
	if e := writeOut(c.ufd, &c.uout); e != 0 {
		c.upstreamFailed(e)
		return
	}
	want := len(c.uout) > 0
	if want != c.uoutArmed {
		ev := uint32(syscall.EPOLLIN | syscall.EPOLLRDHUP)
		if want {
			ev |= syscall.EPOLLOUT
		}
		c.l.ctl(syscall.EPOLL_CTL_MOD, c.ufd, ev)
		c.uoutArmed = want
	}
}

func (c *fconn) readUpstream() {
	l := c.l
	n, e := rawRead(c.ufd, l.rbuf)
	if e == syscall.EAGAIN || e == syscall.EINTR {
		return
	}
	if !c.busy {
		// Bytes or a close from an idle upstream connection: it is of no more use.
		c.closeUpstream()
		return
	}
	if e != 0 || n == 0 {
		if e == 0 && c.closeDelimited() {
			c.answer(len(c.uin), true)
			return
		}
		var err error = e
		if e == 0 {
			err = errors.New("the server closed the connection before answering")
		}
		c.upstreamFailed(err)
		return
	}
	c.uin = append(c.uin, l.rbuf[:n]...)
	if len(c.uin) > maxFastResponse {
		c.upstreamFailed(errors.New("response larger than the limit"))
		return
	}
	if size, ok := c.responseSize(); ok {
		c.answer(size, false)
	}
}

// plainResponse is what the proxy needs of an upstream answer's head, read in one pass.
type plainResponse struct {
	status        int
	lineEnd       int // index of the status line's \r\n
	headEnd       int // index of the blank line's \r\n\r\n
	contentLength int // -1: none
	chunked       bool
	close         bool // the upstream closes the connection after this answer
	http11        bool
	hop           bool // a header the proxy does not forward is there (Connection, Keep-Alive, ...)
	hasDate       bool
	retryAfter    []byte // first values; nil when absent
	executed      []byte
	replayed      []byte
}

// parse reads the head of b; it returns false when the head is not whole or not valid
// (bad is then set when it is whole).
func (rs *plainResponse) parse(b []byte) (ok, bad bool) {
	end := bytes.Index(b, crlf2)
	if end < 0 {
		return false, false
	}
	if len(b) < 12 || !bytes.HasPrefix(b, []byte("HTTP/1.")) || b[8] != ' ' ||
		b[9] < '1' || b[9] > '5' || b[10] < '0' || b[10] > '9' || b[11] < '0' || b[11] > '9' {
		return false, true
	}
	*rs = plainResponse{status: int(b[9]-'0')*100 + int(b[10]-'0')*10 + int(b[11]-'0'), headEnd: end,
		contentLength: -1, close: b[7] == '0', http11: b[7] == '1'}
	rs.lineEnd = bytes.IndexByte(b, '\n') - 1
	hs := b[rs.lineEnd+2 : end+2]
	for len(hs) > 0 {
		j := bytes.IndexByte(hs, '\n')
		if j < 1 || hs[j-1] != '\r' {
			return false, true
		}
		ln := hs[:j-1]
		hs = hs[j+1:]
		colon := bytes.IndexByte(ln, ':')
		if colon <= 0 {
			return false, true
		}
		name := ln[:colon]
		v := bytes.TrimSpace(ln[colon+1:])
		if v == nil {
			v = []byte{}
		}
		switch len(name) {
		case 4:
			rs.hasDate = rs.hasDate || eqFold(name, "date")
		case 10:
			if eqFold(name, "connection") {
				rs.hop = true
				for _, t := range bytes.Split(v, []byte(",")) {
					if eqFold(bytes.TrimSpace(t), "close") {
						rs.close = true
					}
				}
			} else if eqFold(name, "keep-alive") {
				rs.hop = true
			}
		case 11:
			if rs.retryAfter == nil && eqFold(name, "retry-after") {
				rs.retryAfter = v
			}
		case 14:
			if eqFold(name, "content-length") {
				n, err := strconv.Atoi(string(v))
				if err != nil || n < 0 || (rs.contentLength >= 0 && n != rs.contentLength) {
					return false, true
				}
				rs.contentLength = n
			}
		case 17:
			if eqFold(name, "transfer-encoding") {
				if !eqFold(v, "chunked") {
					return false, true
				}
				rs.chunked = true
			}
		case 19:
			switch {
			case rs.executed == nil && eqFold(name, "x-retrylab-executed"):
				rs.executed = v
			case rs.replayed == nil && eqFold(name, "idempotent-replayed"):
				rs.replayed = v
			}
		}
		if !rs.hop && isHopHeader(name) {
			rs.hop = true
		}
	}
	return true, false
}

// responseSize parses the head of the answer in c.uin into c.rs (once) and returns the
// answer's whole length once it is all there.
func (c *fconn) responseSize() (int, bool) {
	rs := &c.rs
	for !c.rsOK { // the head is parsed once, however many reads the body takes
		ok, bad := rs.parse(c.uin)
		if !ok {
			if bad {
				c.upstreamFailed(errors.New("cannot parse the response"))
			}
			return 0, false
		}
		if rs.status >= 100 && rs.status < 200 && rs.status != 101 {
			// An interim answer (103 Early Hints): dropped, the final one follows.
			c.uin = c.uin[:copy(c.uin, c.uin[rs.headEnd+4:])]
			continue
		}
		c.rsOK = true
	}
	bodyStart := rs.headEnd + 4
	switch {
	case c.head || rs.status == 204 || rs.status == 304:
		return bodyStart, true
	case rs.chunked:
		n, ok := chunkedEnd(c.uin[bodyStart:])
		return bodyStart + n, ok
	case rs.contentLength >= 0:
		return bodyStart + rs.contentLength, len(c.uin) >= bodyStart+rs.contentLength
	}
	return 0, false // delimited by the close of the connection
}

// closeDelimited reports whether the answer in c.uin has a head and a body that ends
// where the connection does.
func (c *fconn) closeDelimited() bool {
	rs := &c.rs
	return c.rsOK && !rs.chunked && rs.contentLength < 0 && !c.head && rs.status != 204 && rs.status != 304
}

// chunkedEnd returns the length of a whole chunked body at the start of b.
func chunkedEnd(b []byte) (int, bool) {
	i := 0
	for {
		j := bytes.Index(b[i:], crlf)
		if j < 0 {
			return 0, false
		}
		line := b[i : i+j]
		if k := bytes.IndexByte(line, ';'); k >= 0 {
			line = line[:k]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return 0, false
		}
		i += j + 2
		if size == 0 {
			// Trailers, then the blank line.
			for {
				k := bytes.Index(b[i:], crlf)
				if k < 0 {
					return 0, false
				}
				i += k + 2
				if k == 0 {
					return i, true
				}
			}
		}
		i += int(size) + 2
		if i > len(b) {
			return 0, false
		}
	}
}

// answer sends the upstream's answer (the first size bytes of c.uin, parsed in c.rs) to
// the client and journals the attempt. eof: the answer was delimited by the upstream
// closing.
func (c *fconn) answer(size int, eof bool) {
	p := c.l.fp.p
	rs := &c.rs
	wall := time.Now()
	p.met.upstream.Observe(wall.Sub(c.sent).Seconds())
	rec := &c.rec
	rec.Status, rec.UpstreamStatus = rs.status, rs.status

	out := c.out[:0]
	if rs.http11 && !rs.hop && !eof {
		// The usual case: the head goes as it came, with what the proxy adds.
		out = append(out, c.uin[:rs.headEnd+2]...)
	} else {
		out = append(out, "HTTP/1.1"...)
		out = append(out, c.uin[8:rs.lineEnd+2]...)
		hs := c.uin[rs.lineEnd+2 : rs.headEnd+2]
		hop := hopTokens(hs)
		for len(hs) > 0 {
			j := bytes.IndexByte(hs, '\n')
			ln := hs[:j+1]
			hs = hs[j+1:]
			name := ln[:bytes.IndexByte(ln, ':')]
			if isHopHeader(name) || hop.has(name) || (eof && eqFold(name, "content-length")) {
				continue
			}
			out = append(out, ln...)
		}
	}
	if !rs.hasDate {
		out = append(out, "Date: "...)
		out = wall.UTC().AppendFormat(out, httpDate)
		out = append(out, "\r\n"...)
	}
	body := c.uin[rs.headEnd+4 : size]
	if eof {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		out = append(out, "\r\n"...)
	}
	c.setAnswer(out, body)

	if p.jw != nil { // what only the journal reads
		now := p.now()
		rec.DurNs = int64(now.Sub(c.start))
		rec.RetryAfterMs, rec.RetryAfter = fault.ParseRetryAfter(rs.retryAfter, now)
		rec.Replayed = bytes.Equal(rs.replayed, strTrue)
		if rs.executed != nil {
			rec.Executed = bytes.Equal(rs.executed, strTrue)
		} else {
			m := rec.Method
			rec.Executed = !rec.Replayed && rs.status >= 200 && rs.status < 300 && m != "GET" && m != "HEAD"
		}
	}
	c.journal()
	if eof || rs.close {
		c.closeUpstream()
	} else {
		c.uin = c.uin[:copy(c.uin, c.uin[size:])]
	}
	c.rsOK = false
	c.complete()
}

// upstreamFailed answers 502 for the request in flight (or resends it once on a fresh
// connection when a reused one turned out closed before answering an idempotent request).
func (c *fconn) upstreamFailed(err error) {
	reused := c.reused
	c.closeUpstream()
	if !c.busy {
		return
	}
	if reused && !c.retried && len(c.uin) == 0 && idempotentMethod(c.rec.Method) {
		c.retried = true
		c.send()
		return
	}
	p := c.l.fp.p
	wall := time.Now()
	p.met.upstream.Observe(wall.Sub(c.sent).Seconds())
	rec := &c.rec
	rec.Status = 502
	if p.jw != nil {
		rec.Err = "upstream: " + err.Error()
		rec.DurNs = int64(p.now().Sub(c.start))
	}
	body := `{"error":{"code":"bad_gateway","message":"upstream unreachable"}}` + "\n"
	out := append(c.out[:0], "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\nDate: "...)
	out = wall.UTC().AppendFormat(out, httpDate)
	out = append(out, "\r\n"...)
	c.setAnswer(out, []byte(body))
	c.journal()
	c.complete()
}

// setAnswer makes the head in out (its header lines so far) and body the answer to write,
// with Connection: close when the connection closes after it (the client asked, or the
// proxy is shutting down).
func (c *fconn) setAnswer(out, body []byte) {
	if c.closing || c.l.fp.stop.Load() {
		c.closing = true
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	c.out = append(out, body...)
}

func idempotentMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE":
		return true
	}
	return false
}

const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// journal journals the attempt in flight.
func (c *fconn) journal() {
	p := c.l.fp.p
	rec := &c.rec
	if p.jw != nil {
		if err := p.jw.Write(rec); err != nil {
			p.st.journalErrors.Add(1)
			if p.st.journalErrors.Load() == 1 {
				p.logf("journal: %v", err)
			}
		}
	}
	p.count(rec)
	*rec = journal.Record{}
}

// complete ends the request in flight and writes its answer.
func (c *fconn) complete() {
	c.busy = false
	c.last = c.l.now
	// A large request or answer does not keep its buffers on an idle connection.
	if cap(c.req) > maxKeptBuffer {
		c.req = nil
	}
	if cap(c.uin) > maxKeptBuffer && len(c.uin) == 0 {
		c.uin = nil
	}
	c.flushClient()
	if cap(c.out) > maxKeptBuffer && len(c.out) == 0 {
		c.out = nil
	}
	if c.paused && c.cfd >= 0 && len(c.in) <= c.l.fp.maxAhead {
		c.paused = false
		c.setClientEvents(c.outArmed)
	}
}

// maxKeptBuffer is the largest buffer a connection keeps between requests.
const maxKeptBuffer = 256 << 10

func (c *fconn) flushClient() {
	if c.cfd < 0 {
		return
	}
	if e := writeOut(c.cfd, &c.out); e != 0 {
		c.close()
		return
	}
	want := len(c.out) > 0
	if want != c.outArmed {
		c.setClientEvents(want)
	}
	if want {
		return
	}
	if c.closing {
		c.close()
		return
	}
	c.next()
}

// setClientEvents sets what epoll reports on the client socket: readability while the
// client may still send, writability while out has bytes (out).
//
// A client that is gone and has nothing to be written is not watched at all: a closed
// socket reports EPOLLHUP whatever is asked, and would wake the loop again and again.
func (c *fconn) setClientEvents(out bool) {
	c.outArmed = out
	var ev uint32
	if !c.gone && !c.paused {
		ev = syscall.EPOLLIN | syscall.EPOLLRDHUP
	}
	if out {
		ev |= syscall.EPOLLOUT
	}
	switch {
	case ev == 0:
		if !c.unwatched {
			syscall.EpollCtl(c.l.epfd, syscall.EPOLL_CTL_DEL, c.cfd, nil)
			c.unwatched = true
		}
	case c.unwatched:
		c.l.ctl(syscall.EPOLL_CTL_ADD, c.cfd, ev)
		c.unwatched = false
	default:
		c.l.ctl(syscall.EPOLL_CTL_MOD, c.cfd, ev)
	}
}

// handoff gives the client connection, with what was read of it, to the fasthttp server.
func (c *fconn) handoff() {
	l := c.l
	fd := c.cfd
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	l.setConn(fd, nil)
	c.cfd = -1
	l.open.Add(-1)
	c.closeUpstream()
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		l.fp.p.logf("fast path: hand-off: %v", err)
		return
	}
	conn := newWaitConn(nc)
	if len(c.in) > 0 {
		conn = &prefixConn{Conn: conn, pre: append([]byte(nil), c.in...)}
	}
	if !l.fp.hl.put(conn) {
		conn.Close()
	}
}

// plainRequest is what the fast path needs of a request's head.
type plainRequest struct {
	headers       []byte // the header lines, each with its \r\n
	hostLine      [2]int // where the Host line lies in the head ([start, end), -1: none)
	connLine      [2]int // where the Connection line lies
	lineEnd       int    // index of the request line's \r\n
	method, path  []byte
	apiKey        []byte
	idemKey, op   []byte
	contentLength int
	head, close   bool
}

// parse reads a request head (up to and including the last header's \r\n) and reports
// whether the request is plain (see the fast path's description).
func (rq *plainRequest) parse(b []byte, p *Proxy) bool {
	i := bytes.Index(b, crlf)
	line := b[:i]
	rq.lineEnd = i
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 || !bytes.Equal(rest[sp2+1:], []byte("HTTP/1.1")) {
		return false
	}
	rq.method, rq.path = line[:sp1], rest[:sp2]
	for _, ch := range rq.method {
		if ch < 'A' || ch > 'Z' {
			return false
		}
	}
	if string(rq.method) == "CONNECT" {
		return false
	}
	uri := rq.path
	if len(uri) == 0 || uri[0] != '/' || (len(uri) > 1 && uri[1] == '/') {
		return false
	}
	if q := bytes.IndexByte(uri, '?'); q >= 0 {
		rq.path = uri[:q]
	}
	// Paths fasthttp would normalise (percent-encoding, dot segments, doubled slashes)
	// journal differently: they take the other path.
	for k, ch := range rq.path {
		if ch == '%' || ch == '#' || ch <= ' ' || ch >= 0x7f || (ch == '/' && k > 0 && rq.path[k-1] == '/') {
			return false
		}
		if ch == '.' && rq.path[k-1] == '/' {
			return false
		}
	}
	uri = uri[len(rq.path):]
	for _, ch := range uri {
		if ch <= ' ' || ch >= 0x7f {
			return false
		}
	}
	rq.head = string(rq.method) == "HEAD"
	rq.contentLength = 0
	var host []byte
	haveHost, haveLen := false, false
	var auth, xkey []byte
	hs := b[i+2:]
	rq.headers = hs
	rq.hostLine, rq.connLine = [2]int{-1, -1}, [2]int{-1, -1}
	off := i + 2 // offset of hs in b
	for len(hs) > 0 {
		j := bytes.IndexByte(hs, '\n')
		if j < 1 || hs[j-1] != '\r' {
			return false
		}
		ln := hs[:j-1]
		lineAt := off
		hs, off = hs[j+1:], off+j+1
		colon := bytes.IndexByte(ln, ':')
		if colon <= 0 {
			return false
		}
		name := ln[:colon]
		for _, ch := range name {
			if !tokenChar[ch] {
				return false
			}
		}
		v := ln[colon+1:]
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			v = v[:len(v)-1]
		}
		for _, ch := range v {
			if ch < ' ' && ch != '\t' || ch == 0x7f {
				return false
			}
		}
		switch len(name) {
		case 2, 7, 16, 17, 18, 19: // Te, Trailer/Upgrade, Proxy-Connection, Transfer-Encoding, ...
			if isHopHeader(name) || eqFold(name, "transfer-encoding") {
				return false
			}
		case 4:
			if eqFold(name, "host") {
				if haveHost {
					return false
				}
				host, haveHost = v, true
				rq.hostLine = [2]int{lineAt, off}
			}
		case 6:
			if eqFold(name, "expect") {
				return false
			}
		case 14:
			if eqFold(name, "content-length") {
				if haveLen || len(v) == 0 || len(v) > 9 {
					return false
				}
				n := 0
				for _, ch := range v {
					if ch < '0' || ch > '9' {
						return false
					}
					n = n*10 + int(ch-'0')
				}
				rq.contentLength, haveLen = n, true
			}
		case 10:
			switch {
			case eqFold(name, "connection"):
				if rq.connLine[0] >= 0 {
					return false
				}
				switch {
				case eqFold(v, "close"):
					rq.close = true
				case eqFold(v, "keep-alive"):
				default:
					return false
				}
				rq.connLine = [2]int{lineAt, off}
			case eqFold(name, "keep-alive"):
				return false
			}
		case 13:
			if auth == nil && eqFold(name, "authorization") {
				auth = v
			}
		case 9:
			if xkey == nil && eqFold(name, "x-api-key") {
				xkey = v
			}
		case 15:
			if rq.idemKey == nil && eqFold(name, "idempotency-key") {
				rq.idemKey = v
			}
		}
		if rq.op == nil && len(name) == len(p.opHeader) && bytes.EqualFold(name, []byte(p.opHeader)) {
			rq.op = v
		}
	}
	if !haveHost || !loopbackHost(host) {
		return false
	}
	if len(auth) > len(bearer) && bytes.EqualFold(auth[:len(bearer)], bearer) {
		rq.apiKey = bytes.TrimSpace(auth[len(bearer):])
	} else {
		rq.apiKey = xkey
	}
	return true
}

// Method, Path and Peek make a plainRequest a matcher's request.
func (rq *plainRequest) Method() []byte { return rq.method }

func (rq *plainRequest) Path() []byte { return rq.path }

func (rq *plainRequest) Peek(name string) []byte {
	hs := rq.headers
	for len(hs) > 0 {
		j := bytes.Index(hs, crlf)
		ln := hs[:j]
		hs = hs[j+2:]
		if len(ln) > len(name) && ln[len(name)] == ':' && bytes.EqualFold(ln[:len(name)], []byte(name)) {
			if v := bytes.Trim(ln[len(name)+1:], " \t"); v != nil {
				return v
			}
			return []byte{} // present, empty: not nil, as fasthttp's Peek
		}
	}
	return nil
}

// tokenChar marks the bytes of an HTTP token (RFC 9110 §5.6.2).
var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// eqFold reports whether b equals lower (lower-case letters, digits and '-') ignoring the
// case of b's letters.
func eqFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// hasFold reports whether line starts with prefix (lower case), ignoring case.
func hasFold(line []byte, prefix string) bool {
	return len(line) >= len(prefix) && bytes.EqualFold(line[:len(prefix)], []byte(prefix))
}

// isHopHeader reports whether name is a hop-by-hop header the proxy never forwards.
func isHopHeader(name []byte) bool { return hopBit(name) != 0 }

// hopList is the header names a Connection header lists (RFC 9110 §7.6.1).
type hopList [][]byte

func hopTokens(hs []byte) hopList {
	var out hopList
	for len(hs) > 0 {
		i := bytes.IndexByte(hs, '\n')
		ln := hs[:i-1]
		hs = hs[i+1:]
		if !hasFold(ln, "connection:") {
			continue
		}
		for _, t := range bytes.Split(ln[len("connection:"):], []byte(",")) {
			if t = bytes.TrimSpace(t); len(t) > 0 && !bytes.EqualFold(t, []byte("close")) && !bytes.EqualFold(t, []byte("keep-alive")) {
				out = append(out, t)
			}
		}
	}
	return out
}

func (h hopList) has(name []byte) bool {
	for _, t := range h {
		if bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// handoffListener is the listener the fasthttp server accepts handed-off connections from.
type handoffListener struct {
	addr   net.Addr
	ch     chan net.Conn
	mu     sync.Mutex
	closed bool
	done   chan struct{}
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, ch: make(chan net.Conn, 1024), done: make(chan struct{})}
}

func (h *handoffListener) put(c net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	select {
	case h.ch <- c:
		return true
	default:
		return false
	}
}

// Accept implements net.Listener.
func (h *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (h *handoffListener) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	return nil
}

// Addr implements net.Listener.
func (h *handoffListener) Addr() net.Addr { return h.addr }

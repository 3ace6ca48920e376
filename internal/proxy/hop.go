package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Hop-by-hop headers (RFC 9110 §7.6.1 and the de-facto Keep-Alive, Proxy-Connection and
// Proxy-Authenticate/-Authorization) describe one connection, not the message: the proxy
// removes them from the request before forwarding it and from the target's answer before
// sending it on, together with every header a Connection header names. The proxy manages
// both of its connections itself, so "close" and "keep-alive" in a Connection header act on
// the connection they arrived on only (fasthttp reads them before the handler runs).
//
// The headers are found in one pass that sets a bit per hop-by-hop name present, and only
// those are deleted; the common message without any costs that pass and nothing else. The
// pass over a request reads its header block as received (RawHeaders): fasthttp's VisitAll
// would parse its cookies and write them back re-serialised, dropping the ones its parser
// rejects. The pass over the target's answer is VisitAll, which changes nothing there.
const (
	hopConnection uint8 = 1 << iota
	hopKeepAlive
	hopProxyConnection
	hopProxyAuthorization
	hopProxyAuthenticate
	hopTe
	hopTrailer
	hopUpgrade
)

// hopNames are the header names of the hop bits, in bit order.
var hopNames = [...]string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
	"Proxy-Authenticate", "Te", "Trailer", "Upgrade"}

// hopBit returns the bit of a hop-by-hop header name (any case), 0 for any other name. The
// length and the first letter rule out almost every other name before a comparison.
func hopBit(k []byte) uint8 {
	if len(k) < 2 {
		return 0
	}
	switch k[0] | 0x20 {
	case 'c':
		if len(k) == 10 && bytes.EqualFold(k, []byte("Connection")) {
			return hopConnection
		}
	case 'k':
		if len(k) == 10 && bytes.EqualFold(k, []byte("Keep-Alive")) {
			return hopKeepAlive
		}
	case 'p':
		switch {
		case len(k) == 16 && bytes.EqualFold(k, []byte("Proxy-Connection")):
			return hopProxyConnection
		case len(k) == 18 && bytes.EqualFold(k, []byte("Proxy-Authenticate")):
			return hopProxyAuthenticate
		case len(k) == 19 && bytes.EqualFold(k, []byte("Proxy-Authorization")):
			return hopProxyAuthorization
		}
	case 't':
		switch {
		case len(k) == 2 && k[1]|0x20 == 'e':
			return hopTe
		case len(k) == 7 && bytes.EqualFold(k, []byte("Trailer")):
			return hopTrailer
		}
	case 'u':
		if len(k) == 7 && bytes.EqualFold(k, []byte("Upgrade")) {
			return hopUpgrade
		}
	}
	return 0
}

// hopScan collects, in one pass over a header, which hop-by-hop headers it holds and the
// field names its Connection headers list.
type hopScan struct {
	mask  uint8
	named []byte // the Connection values naming fields, comma-separated; nil when none do
}

func (s *hopScan) visit(k, v []byte) {
	b := hopBit(k)
	if b == 0 {
		return
	}
	s.mask |= b
	if b == hopConnection && namesFields(v) {
		s.named = append(append(s.named, v...), ',')
	}
}

// namesFields reports whether a Connection value lists an option other than close and
// keep-alive, that is, the name of a header field to drop.
func namesFields(v []byte) bool {
	for len(v) > 0 {
		var tok []byte
		tok, v = nextToken(v)
		if len(tok) > 0 && !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) {
			return true
		}
	}
	return false
}

// nextToken splits the first element off a comma-separated list, trimmed of spaces and tabs.
func nextToken(v []byte) (tok, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		tok, rest = v[:i], v[i+1:]
	} else {
		tok = v
	}
	return bytes.Trim(tok, " \t"), rest
}

// each calls del for every header to remove: the hop-by-hop headers present, then the
// names the Connection headers list, except the ones that frame the message or address it
// (Content-Length, Transfer-Encoding, Host), which fasthttp and the proxy set themselves.
func (s *hopScan) each(del func(string), delBytes func([]byte)) {
	for i, name := range hopNames {
		if s.mask&(1<<i) != 0 {
			del(name)
		}
	}
	for v := s.named; len(v) > 0; {
		var tok []byte
		tok, v = nextToken(v)
		if len(tok) == 0 || hopBit(tok) != 0 || bytes.EqualFold(tok, []byte("close")) ||
			bytes.EqualFold(tok, []byte(fasthttp.HeaderContentLength)) ||
			bytes.EqualFold(tok, []byte(fasthttp.HeaderTransferEncoding)) ||
			bytes.EqualFold(tok, []byte(fasthttp.HeaderHost)) {
			continue
		}
		delBytes(tok)
	}
}

// scanRaw sets the bits of the hop-by-hop headers in a raw header block.
func (s *hopScan) scanRaw(raw []byte) {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) < 3 {
			continue
		}
		switch uint16(line[0]|0x20)<<8 | uint16(line[1]|0x20) { // how hop-by-hop names begin
		case 'c'<<8 | 'o', 'k'<<8 | 'e', 'p'<<8 | 'r', 't'<<8 | 'e', 't'<<8 | 'r', 'u'<<8 | 'p':
		default:
			continue
		}
		if i := bytes.IndexByte(line, ':'); i > 0 {
			k := line[:i]
			for len(k) > 0 && (k[len(k)-1] == ' ' || k[len(k)-1] == '\t') {
				k = k[:len(k)-1]
			}
			s.mask |= hopBit(k)
		}
	}
}

// stripHopRequest removes the hop-by-hop headers of a request to forward, which fasthttp
// has parsed from the wire (its raw header block is the request as received).
func stripHopRequest(h *fasthttp.RequestHeader) {
	var s hopScan
	s.scanRaw(h.RawHeaders())
	if s.mask == 0 {
		return
	}
	if s.mask&hopConnection != 0 {
		for _, v := range h.PeekAll(fasthttp.HeaderConnection) {
			if namesFields(v) {
				s.named = append(append(s.named, v...), ',')
			}
		}
	}
	s.each(h.Del, h.DelBytes)
}

// stripHopResponse removes the hop-by-hop headers of the target's answer.
func stripHopResponse(h *fasthttp.ResponseHeader) {
	var s hopScan
	h.VisitAll(s.visit)
	if s.mask != 0 {
		s.each(h.Del, h.DelBytes)
	}
}

package journal

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"unicode/utf8"
)

// The encoder is on the proxy's request path (Writer.Write runs it under the Writer's
// lock), so it avoids the general tools: AppendRecord reserves room for the whole record
// once, the keys are written with the quotes and punctuation around them, integers are
// formatted eight digits at a time straight into the destination, and a string that needs
// no escaping (the common case) is checked eight bytes at a time and copied whole.

// recordFixed is an upper bound of what AppendRecord needs besides the string values:
// the keys with their punctuation, seven integers of at most 20 bytes, two booleans, the
// closing brace and newline, and the slack appendDecimal wants for its eight-byte stores.
const recordFixed = len(`{"seq":,"ts":,"mono":,"client":"","method":"","path":"","op":"","idem_key":"",`+
	`"body_hash":"","attempt":,"rule":"","action":"","status":,"retry_after_ms":,"retry_after":"",`+
	`"upstream_status":,"executed":false,"replayed":false,"dur_ns":,"err":"","body":""}`+"\n") + 7*maxIntLen + 8

// maxIntLen is the longest decimal form of an int64 or a uint64: "-9223372036854775808"
// and "18446744073709551615" are both 20 bytes.
const maxIntLen = 20

// AppendRecord appends r as one JSON line (with the trailing newline) to dst and returns
// the extended buffer. It writes the fields in Record's declared order, which is the
// order Unmarshal's fast path expects.
func AppendRecord(dst []byte, r *Record) []byte {
	// One reservation for the whole record; only strings that need escaping can outgrow it,
	// and the appends below still grow dst then.
	dst = slices.Grow(dst, recordFixed+len(r.Client)+len(r.Method)+len(r.Path)+len(r.Op)+len(r.IdemKey)+
		len(r.BodyHash)+len(r.Rule)+len(r.Action)+len(r.RetryAfter)+len(r.Err)+len(r.Body))
	dst = append(dst, `{"seq":`...)
	dst = appendUint(dst, r.Seq)
	dst = append(dst, `,"ts":`...)
	dst = appendInt(dst, r.Time)
	dst = append(dst, `,"mono":`...)
	dst = appendInt(dst, r.Mono)
	dst = append(dst, `,"client":"`...)
	dst = appendStringBody(dst, r.Client)
	dst = append(dst, `","method":"`...)
	dst = appendStringBody(dst, r.Method)
	dst = append(dst, `","path":"`...)
	dst = appendStringBody(dst, r.Path)
	dst = append(dst, `","op":"`...)
	dst = appendStringBody(dst, r.Op)
	dst = append(dst, `","idem_key":"`...)
	dst = appendStringBody(dst, r.IdemKey)
	dst = append(dst, `","body_hash":"`...)
	dst = appendStringBody(dst, r.BodyHash)
	dst = append(dst, `","attempt":`...)
	dst = appendInt(dst, int64(r.Attempt))
	dst = append(dst, `,"rule":"`...)
	dst = appendStringBody(dst, r.Rule)
	dst = append(dst, `","action":"`...)
	dst = appendStringBody(dst, r.Action)
	dst = append(dst, `","status":`...)
	dst = appendInt(dst, int64(r.Status))
	dst = append(dst, `,"retry_after_ms":`...)
	dst = appendInt(dst, r.RetryAfterMs)
	dst = append(dst, `,"retry_after":"`...)
	dst = appendStringBody(dst, r.RetryAfter)
	dst = append(dst, `","upstream_status":`...)
	dst = appendInt(dst, int64(r.UpstreamStatus))
	switch {
	case !r.Executed && !r.Replayed:
		dst = append(dst, `,"executed":false,"replayed":false,"dur_ns":`...)
	case r.Executed && !r.Replayed:
		dst = append(dst, `,"executed":true,"replayed":false,"dur_ns":`...)
	case !r.Executed && r.Replayed:
		dst = append(dst, `,"executed":false,"replayed":true,"dur_ns":`...)
	default:
		dst = append(dst, `,"executed":true,"replayed":true,"dur_ns":`...)
	}
	dst = appendInt(dst, r.DurNs)
	dst = append(dst, `,"err":"`...)
	dst = appendStringBody(dst, r.Err)
	dst = append(dst, `","body":"`...)
	dst = appendStringBody(dst, r.Body)
	return append(dst, "\"}\n"...)
}

// appendInt appends v in decimal, as strconv.AppendInt(dst, v, 10) does.
func appendInt(dst []byte, v int64) []byte {
	return appendDecimal(dst, uint64(v), v < 0)
}

// appendUint appends v in decimal, as strconv.AppendUint(dst, v, 10) does.
func appendUint(dst []byte, v uint64) []byte {
	return appendDecimal(dst, v, false)
}

// appendDecimal appends v in decimal, or -v after a minus sign if neg (v then holds the
// two's complement bits of a negative int64). It writes the digits eight at a time (see
// digits8) straight into dst's spare capacity.
func appendDecimal(dst []byte, v uint64, neg bool) []byte {
	l := len(dst)
	if cap(dst)-l < maxIntLen+8 {
		dst = slices.Grow(dst, maxIntLen+8)
	}
	b := dst[l : l+maxIntLen+8]
	if neg {
		v = -v
		b[0] = '-'
		b = b[1:]
		l++
	}
	if v < 10 {
		b[0] = byte('0' + v)
		return dst[:l+1]
	}
	// Each store writes eight bytes. The first chunk is shifted right past its leading
	// zeros, so that its significant digits land first (the zero bytes after them are
	// overwritten by the next chunk or lie beyond the result); the others are whole.
	const ascii = 0x3030303030303030
	var n int
	switch {
	case v < 1e8:
		d := digits8(uint32(v))
		z := uint(bits.TrailingZeros64(d)) &^ 7 // leading zero digits, times eight; d != 0 as v > 0
		binary.LittleEndian.PutUint64(b, (d|ascii)>>z)
		n = 8 - int(z>>3)
	case v < 1e16:
		hi := v / 1e8
		d := digits8(uint32(hi))
		z := uint(bits.TrailingZeros64(d)) &^ 7
		binary.LittleEndian.PutUint64(b, (d|ascii)>>z)
		n = 8 - int(z>>3)
		binary.LittleEndian.PutUint64(b[n:], digits8(uint32(v-hi*1e8))|ascii)
		n += 8
	default:
		hi := v / 1e8
		top := hi / 1e8
		d := digits8(uint32(top))
		z := uint(bits.TrailingZeros64(d)) &^ 7
		binary.LittleEndian.PutUint64(b, (d|ascii)>>z)
		n = 8 - int(z>>3)
		binary.LittleEndian.PutUint64(b[n:], digits8(uint32(hi-top*1e8))|ascii)
		binary.LittleEndian.PutUint64(b[n+8:], digits8(uint32(v-hi*1e8))|ascii)
		n += 16
	}
	return dst[:l+n]
}

// digits8 returns the eight decimal digits of x < 10⁸, leading zeros included, one per
// byte of a little-endian word (values 0 to 9, not yet ASCII): the most significant digit
// in the lowest byte, ready to be stored. It splits x in lanes within one register: two
// of four digits, then four of two, then eight of one, dividing by 100 and by 10 with
// multiply-and-shift.
func digits8(x uint32) uint64 {
	hi := x / 10000
	lo := x - hi*10000
	v := uint64(hi) | uint64(lo)<<32 // two 32-bit lanes, each < 10⁴
	// floor(n·10486/2²⁰) = n/100 for n < 10⁴; the mask drops what the upper lane's product
	// shifts into the lower one.
	q := (v * 10486 >> 20) & 0x0000007f0000007f
	v = q | (v-q*100)<<16 // four 16-bit lanes, each < 100
	// floor(n·103/2¹⁰) = n/10 for n < 100.
	t := (v * 103 >> 10) & 0x000f000f000f000f
	return t | (v-t*10)<<8 // eight bytes, each < 10
}

const hexDigits = "0123456789abcdef"

// appendStringBody appends s as the inside of a JSON string (without the quotes), escaped
// as encoding/json escapes it without HTML escaping, invalid UTF-8 replaced with U+FFFD.
func appendStringBody(dst []byte, s string) []byte {
	if len(s) == 0 {
		return dst
	}
	return appendNonEmpty(dst, s)
}

// appendNonEmpty is appendStringBody for len(s) > 0. A string with no byte to escape and
// no byte outside ASCII, the common case, is checked eight bytes at a time and copied as
// it is (up to 16 bytes with the words just checked, else in one append); any other
// goes to appendEscaped.
func appendNonEmpty(dst []byte, s string) []byte {
	n := len(s)
	switch {
	case n > 16:
		// The last word overlaps the one before it when n is not a multiple of eight.
		m := escape8(load8(s, n-8))
		for i := 0; i < n-8; i += 8 {
			m |= escape8(load8(s, i))
		}
		if m == 0 {
			return append(dst, s...)
		}
	case n >= 8:
		// Two words, overlapping when n < 16.
		lo, hi := load8(s, 0), load8(s, n-8)
		if escape8(lo)|escape8(hi) == 0 {
			if l := len(dst); cap(dst)-l >= n {
				b := dst[l : l+n]
				binary.LittleEndian.PutUint64(b, lo)
				binary.LittleEndian.PutUint64(b[n-8:], hi)
				return dst[:l+n]
			}
			return append(dst, s...)
		}
	case n >= 4:
		// Two four-byte halves, overlapping when n < 8, checked as one word.
		lo, hi := load4(s, 0), load4(s, n-4)
		if escape8(uint64(lo)|uint64(hi)<<32) == 0 {
			if l := len(dst); cap(dst)-l >= n {
				b := dst[l : l+n]
				binary.LittleEndian.PutUint32(b, lo)
				binary.LittleEndian.PutUint32(b[n-4:], hi)
				return dst[:l+n]
			}
			return append(dst, s...)
		}
	default:
		// One to three bytes: the first, the middle and the last cover them.
		if plainASCII[s[0]] && plainASCII[s[n>>1]] && plainASCII[s[n-1]] {
			return append(dst, s...)
		}
	}
	return appendEscaped(dst, s)
}

// escape8 is non-zero when one of the eight bytes of x is a quote, a backslash, a control
// character or not ASCII, the bytes appendStringBody does not copy as they are. Per byte,
// the first three terms borrow (and so set the byte's high bit) for a byte below 0x20,
// for '"' and for '\\' respectively, and the last has the high bit of a byte above 0x7f;
// a borrow carries into the next byte only from a byte already flagged.
func escape8(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	return ((x - 0x20*ones) | ((x ^ '"'*ones) - ones) | ((x ^ '\\'*ones) - ones) | x) & highs
}

// appendEscaped is appendStringBody for a string that may need escaping.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		// Skip eight plain bytes at a time.
		for i+8 <= len(s) && escape8(load8(s, i)) == 0 {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// load8 returns s[i:i+8] as a little-endian uint64 (one bounds check and one load once
// compiled).
func load8(s string, i int) uint64 {
	w := s[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// load4 returns s[i:i+4] as a little-endian uint32 (one bounds check and one load once
// compiled).
func load4(s string, i int) uint32 {
	w := s[i : i+4]
	return uint32(w[0]) | uint32(w[1])<<8 | uint32(w[2])<<16 | uint32(w[3])<<24
}

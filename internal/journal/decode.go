package journal

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The decoder below is written for the journal's own layout. Its fast path reads the keys
// AppendRecord writes, in AppendRecord's order, with no whitespace; a general path in the
// same loop accepts the known keys in any order and with JSON whitespace. Anything else
// (an unknown key, a key written with escapes or in another case, a null, a float where an
// integer belongs, a number out of range, invalid JSON) makes it give up, and the line is
// decoded by encoding/json instead. The decoder therefore accepts exactly what
// encoding/json accepts and produces the same Record; FuzzDecoderMatchesEncodingJSON
// holds it to that.

// fieldID identifies a Record field in AppendRecord's order.
type fieldID uint8

const (
	fSeq fieldID = iota
	fTime
	fMono
	fClient
	fMethod
	fPath
	fOp
	fIdemKey
	fBodyHash
	fAttempt
	fRule
	fAction
	fStatus
	fRetryAfterMs
	fRetryAfter
	fUpstreamStatus
	fExecuted
	fReplayed
	fDurNs
	fErr
	fBody
	numFields
)

// fieldLit is, per field, the key and colon as AppendRecord writes them.
var fieldLit = [numFields]string{
	`"seq":`, `"ts":`, `"mono":`, `"client":`, `"method":`, `"path":`, `"op":`, `"idem_key":`,
	`"body_hash":`, `"attempt":`, `"rule":`, `"action":`, `"status":`, `"retry_after_ms":`,
	`"retry_after":`, `"upstream_status":`, `"executed":`, `"replayed":`, `"dur_ns":`, `"err":`, `"body":`,
}

// lookupField maps a key written exactly as the Record's JSON tag to its field.
func lookupField(key []byte) (fieldID, bool) {
	switch string(key) {
	case "seq":
		return fSeq, true
	case "ts":
		return fTime, true
	case "mono":
		return fMono, true
	case "client":
		return fClient, true
	case "method":
		return fMethod, true
	case "path":
		return fPath, true
	case "op":
		return fOp, true
	case "idem_key":
		return fIdemKey, true
	case "body_hash":
		return fBodyHash, true
	case "attempt":
		return fAttempt, true
	case "rule":
		return fRule, true
	case "action":
		return fAction, true
	case "status":
		return fStatus, true
	case "retry_after_ms":
		return fRetryAfterMs, true
	case "retry_after":
		return fRetryAfter, true
	case "upstream_status":
		return fUpstreamStatus, true
	case "executed":
		return fExecuted, true
	case "replayed":
		return fReplayed, true
	case "dur_ns":
		return fDurNs, true
	case "err":
		return fErr, true
	case "body":
		return fBody, true
	}
	return 0, false
}

// internable marks the fields whose values repeat across records (a handful of clients,
// methods, paths, rules, actions, error texts) and are worth interning.
var internable = [numFields]bool{
	fClient: true, fMethod: true, fPath: true, fRule: true, fAction: true, fRetryAfter: true, fErr: true,
}

// Interning: a decoder keeps a direct-mapped cache of internSlots recent strings of at
// most maxInternLen bytes. A value found there is reused; a new one replaces the slot's
// string, so memory stays bounded even when a field's values never repeat.
const (
	internSlots  = 1024
	maxInternLen = 96
)

// decoder decodes journal lines. The zero value works; a decoder with a non-nil intern
// cache reuses the strings of repeated values. A decoder is not safe for concurrent use.
type decoder struct {
	intern  *[internSlots]string
	scratch []byte
	// spans are the plain (unescaped, valid UTF-8) values of the fields that are not
	// interned, as offsets into the line: fast copies them all into one string at the
	// end, one allocation per record instead of one per field.
	spans   []span
	spanned uint32 // bit f set: spans may hold a value of field f
}

// span is a field's string value, line[lo:hi].
type span struct {
	f      fieldID
	slot   int32 // intern cache slot to fill with the value, or -1
	lo, hi int
}

func newDecoder() *decoder {
	return &decoder{intern: new([internSlots]string)}
}

// Unmarshal decodes one journal line (without or with its trailing newline) into r.
// Fields absent from the line keep the zero value, except RetryAfterMs which defaults to
// NoRetryAfter. Unknown fields are ignored, so newer writers stay readable. It accepts
// exactly the lines encoding/json accepts and fills r as encoding/json would.
func Unmarshal(line []byte, r *Record) error {
	d := decoderPool.Get().(*decoder)
	err := d.decode(line, r)
	decoderPool.Put(d)
	return err
}

// decoderPool holds decoders for Unmarshal, so that their buffers and intern caches are
// reused across calls.
var decoderPool = sync.Pool{New: func() any { return newDecoder() }}

func (d *decoder) decode(line []byte, r *Record) error {
	*r = Record{RetryAfterMs: NoRetryAfter}
	if d.fast(line, r) {
		return nil
	}
	*r = Record{RetryAfterMs: NoRetryAfter}
	if err := json.Unmarshal(line, r); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	return nil
}

func isSpace(c byte) bool { return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t') }

func skipSpace(p []byte, i int) int {
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	return i
}

// litWords holds fieldLit as up to three little-endian words and masks, so that a key is
// matched with three integer compares.
var litWords = func() (t [numFields]struct{ w, m [3]uint64 }) {
	for f, lit := range fieldLit {
		for k := 0; k < len(lit); k++ {
			t[f].w[k/8] |= uint64(lit[k]) << (8 * (k % 8))
			t[f].m[k/8] |= 0xff << (8 * (k % 8))
		}
	}
	return t
}()

// matchLit returns len(fieldLit[f]) when p[i:] starts with it, else 0.
func matchLit(p []byte, i int, f fieldID) int {
	lit := fieldLit[f]
	if len(p)-i < 24 {
		if len(p)-i >= len(lit) && string(p[i:i+len(lit)]) == lit {
			return len(lit)
		}
		return 0
	}
	lw := &litWords[f]
	q := p[i : i+24]
	if binary.LittleEndian.Uint64(q)&lw.m[0] != lw.w[0] ||
		binary.LittleEndian.Uint64(q[8:])&lw.m[1] != lw.w[1] ||
		binary.LittleEndian.Uint64(q[16:])&lw.m[2] != lw.w[2] {
		return 0
	}
	return len(lit)
}

// fast decodes p into r, which the caller has reset, and reports whether it could. When
// it returns false r may hold part of the record.
func (d *decoder) fast(p []byte, r *Record) bool {
	if d.exact(p, r) {
		d.setSpans(p, r)
		return true
	}
	*r = Record{RetryAfterMs: NoRetryAfter}
	return d.general(p, r)
}

// exact decodes a line laid out exactly as AppendRecord writes it: every key, in order,
// no whitespace, strings without escapes. It is straight-line code with one literal
// compare per key and no dispatch on the key; any departure from the layout makes it
// give up (r may then hold part of the record) and general takes over. It uses the same
// value parsers as general, so it fills r exactly as general would.
func (d *decoder) exact(p []byte, r *Record) bool {
	d.spans, d.spanned = d.spans[:0], 0
	const open = `{"seq":`
	if len(p) < len(open) || string(p[:len(open)]) != open {
		return false
	}
	i := len(open)
	v, n, ok := parseUint(p[i:])
	if !ok {
		return false
	}
	r.Seq = v
	i += n
	if r.Time, i, ok = intField(p, i, fTime); !ok {
		return false
	}
	if r.Mono, i, ok = intField(p, i, fMono); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fClient, &r.Client); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fMethod, &r.Method); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fPath, &r.Path); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fOp, &r.Op); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fIdemKey, &r.IdemKey); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fBodyHash, &r.BodyHash); !ok {
		return false
	}
	if r.Attempt, i, ok = smallIntField(p, i, fAttempt); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fRule, &r.Rule); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fAction, &r.Action); !ok {
		return false
	}
	if r.Status, i, ok = smallIntField(p, i, fStatus); !ok {
		return false
	}
	if r.RetryAfterMs, i, ok = intField(p, i, fRetryAfterMs); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fRetryAfter, &r.RetryAfter); !ok {
		return false
	}
	if r.UpstreamStatus, i, ok = smallIntField(p, i, fUpstreamStatus); !ok {
		return false
	}
	if r.Executed, i, ok = boolField(p, i, fExecuted); !ok {
		return false
	}
	if r.Replayed, i, ok = boolField(p, i, fReplayed); !ok {
		return false
	}
	if r.DurNs, i, ok = intField(p, i, fDurNs); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fErr, &r.Err); !ok {
		return false
	}
	if i, ok = d.strField(p, i, fBody, &r.Body); !ok {
		return false
	}
	return i < len(p) && p[i] == '}' && skipSpace(p, i+1) == len(p)
}

// nextKey reads the comma and the key of field f at p[i:], as AppendRecord writes them,
// and returns the index after the colon.
func nextKey(p []byte, i int, f fieldID) (int, bool) {
	if i >= len(p) || p[i] != ',' {
		return 0, false
	}
	n := matchLit(p, i+1, f)
	return i + 1 + n, n > 0
}

// intField reads the key of f and an int64 at p[i:] and returns the value and the index
// after it.
func intField(p []byte, i int, f fieldID) (int64, int, bool) {
	i, ok := nextKey(p, i, f)
	if !ok {
		return 0, 0, false
	}
	v, n, ok := parseInt(p[i:])
	return v, i + n, ok
}

// smallIntField is intField for an int field.
func smallIntField(p []byte, i int, f fieldID) (int, int, bool) {
	v, i, ok := intField(p, i, f)
	if !ok || int64(int(v)) != v {
		return 0, 0, false
	}
	return int(v), i, true
}

// boolField reads the key of f and a boolean at p[i:].
func boolField(p []byte, i int, f fieldID) (bool, int, bool) {
	i, ok := nextKey(p, i, f)
	if !ok {
		return false, 0, false
	}
	v, n, ok := parseBool(p[i:])
	return v, i + n, ok
}

// strField reads the key of f and a plain string at p[i:]: an interned value is set in
// dst at once, any other is left as a span for setSpans.
func (d *decoder) strField(p []byte, i int, f fieldID, dst *string) (int, bool) {
	i, ok := nextKey(p, i, f)
	if !ok {
		return 0, false
	}
	n, plain := plainString(p[i:])
	if !plain {
		return 0, false
	}
	if n == 2 {
		return i + n, true
	}
	b := p[i+1 : i+n-1]
	slot := int32(-1)
	if internable[f] && d.intern != nil && len(b) <= maxInternLen {
		slot = d.internSlot(b)
		if v := d.intern[slot]; v == string(b) {
			*dst = v
			return i + n, true
		}
	}
	d.spans = append(d.spans, span{f: f, slot: slot, lo: i + 1, hi: i + n - 1})
	return i + n, true
}

// general decodes p into r, which the caller has reset: the known keys in any order, with
// JSON whitespace. When it returns false r may hold part of the record.
func (d *decoder) general(p []byte, r *Record) bool {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return false
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return skipSpace(p, i+1) == len(p)
	}
	d.spans, d.spanned = d.spans[:0], 0
	next := fSeq
	for {
		var f fieldID
		if n := matchLit(p, i, next%numFields); n > 0 {
			f = next % numFields
			i += n
		} else {
			key, n, ok := plainKey(p[i:])
			if !ok {
				return false
			}
			if f, ok = lookupField(key); !ok {
				return false
			}
			i = skipSpace(p, i+n)
			if i >= len(p) || p[i] != ':' {
				return false
			}
			i++
		}
		i = skipSpace(p, i)
		if i >= len(p) {
			return false
		}
		n, ok := d.value(p, i, f, r)
		if !ok {
			return false
		}
		i = skipSpace(p, i+n)
		next = f + 1
		if i >= len(p) {
			return false
		}
		if p[i] == ',' {
			i = skipSpace(p, i+1)
			continue
		}
		if p[i] != '}' || skipSpace(p, i+1) != len(p) {
			return false
		}
		d.setSpans(p, r)
		return true
	}
}

// setSpans copies the part of the line that holds the spans into one new string and
// sets their fields to pieces of it: one allocation per record, however many fields.
func (d *decoder) setSpans(p []byte, r *Record) {
	lo, hi := len(p), 0
	for _, sp := range d.spans {
		if sp.f < numFields {
			lo, hi = min(lo, sp.lo), max(hi, sp.hi)
		}
	}
	if hi <= lo {
		return
	}
	all := string(p[lo:hi])
	for _, sp := range d.spans {
		if sp.f >= numFields {
			continue
		}
		v := all[sp.lo-lo : sp.hi-lo]
		setString(r, sp.f, v)
		if sp.slot >= 0 {
			d.intern[sp.slot] = v
		}
	}
}

// plainKey reads a quoted key made of printable ASCII without escapes.
func plainKey(p []byte) (key []byte, n int, ok bool) {
	if len(p) == 0 || p[0] != '"' {
		return nil, 0, false
	}
	for j := 1; j < len(p); j++ {
		c := p[j]
		if c == '"' {
			return p[1:j], j + 1, true
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// value decodes the value of field f at p[i:] and returns its length.
func (d *decoder) value(line []byte, i int, f fieldID, r *Record) (int, bool) {
	p := line[i:]
	switch f {
	case fSeq:
		v, n, ok := parseUint(p)
		r.Seq = v
		return n, ok
	case fTime:
		v, n, ok := parseInt(p)
		r.Time = v
		return n, ok
	case fMono:
		v, n, ok := parseInt(p)
		r.Mono = v
		return n, ok
	case fRetryAfterMs:
		v, n, ok := parseInt(p)
		r.RetryAfterMs = v
		return n, ok
	case fDurNs:
		v, n, ok := parseInt(p)
		r.DurNs = v
		return n, ok
	case fAttempt, fStatus, fUpstreamStatus:
		v, n, ok := parseInt(p)
		if !ok || int64(int(v)) != v {
			return 0, false
		}
		switch f {
		case fAttempt:
			r.Attempt = int(v)
		case fStatus:
			r.Status = int(v)
		default:
			r.UpstreamStatus = int(v)
		}
		return n, true
	case fExecuted, fReplayed:
		v, n, ok := parseBool(p)
		if f == fExecuted {
			r.Executed = v
		} else {
			r.Replayed = v
		}
		return n, ok
	}
	// A string. Every path drops earlier values of a duplicated key first.
	d.dropSpans(f)
	n, plain := plainString(p)
	if !plain {
		if len(p) == 0 || p[0] != '"' {
			return 0, false
		}
		v, n, ok := d.parseEscaped(p)
		if !ok {
			return 0, false
		}
		setString(r, f, v)
		return n, true
	}
	setString(r, f, "")
	b := p[1 : n-1]
	if len(b) == 0 {
		return n, true
	}
	slot := int32(-1)
	if internable[f] && d.intern != nil && len(b) <= maxInternLen {
		slot = d.internSlot(b)
		if v := d.intern[slot]; v == string(b) {
			setString(r, f, v)
			return n, true
		}
	}
	// Set by setSpans once the whole record is known to be valid.
	d.spans = append(d.spans, span{f: f, slot: slot, lo: i + 1, hi: i + n - 1})
	d.spanned |= 1 << f
	return n, true
}

// dropSpans forgets the pending spans of field f.
func (d *decoder) dropSpans(f fieldID) {
	if d.spanned&(1<<f) == 0 {
		return
	}
	for k := range d.spans {
		if d.spans[k].f == f {
			d.spans[k].f = numFields
		}
	}
}

// plainASCII marks the bytes that stand for themselves in a JSON string.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainString reports the length of the JSON string at the start of p, quotes included,
// when it has no escapes, no control characters and is valid UTF-8: its value is then
// the bytes between the quotes.
func plainString(p []byte) (int, bool) {
	if len(p) == 0 || p[0] != '"' {
		return 0, false
	}
	ascii := true
	j := 1
	for {
		j = nextSpecial(p, j)
		if j >= len(p) {
			return 0, false
		}
		switch c := p[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(p[1:j]) {
				return 0, false
			}
			return j + 1, true
		case c == '\\' || c < 0x20:
			return 0, false
		default: // a byte of a multi-byte sequence
			ascii = false
			j++
		}
	}
}

// nextSpecial returns the index of the first byte of p at or after j that does not stand
// for itself in a JSON string (see plainASCII), or len(p): eight bytes at a time, the
// special byte located in its word by its flag bit.
func nextSpecial(p []byte, j int) int {
	for j+8 <= len(p) {
		if m := special8Mask(binary.LittleEndian.Uint64(p[j:])); m != 0 {
			return j + bits.TrailingZeros64(m)>>3
		}
		j += 8
	}
	for j < len(p) && plainASCII[p[j]] {
		j++
	}
	return j
}

const (
	ones8  = 0x0101010101010101
	highs8 = 0x8080808080808080
)

// special8 reports whether any of the eight bytes in x is a quote, a backslash, a control
// character or not ASCII.
func special8(x uint64) bool { return special8Mask(x) != 0 }

// special8Mask sets the high bit of each of the eight bytes of x (little-endian) that is a
// quote, a backslash, a control character or not ASCII. Bytes above the first special
// one may be flagged falsely (a borrow runs on from it), the lowest flag is always exact.
func special8Mask(x uint64) uint64 {
	hasZero := func(v uint64) uint64 { return (v - ones8) &^ v & highs8 }
	return (x & highs8) | ((x - ones8*0x20) &^ x & highs8) | hasZero(x^(ones8*'"')) | hasZero(x^(ones8*'\\'))
}

func setString(r *Record, f fieldID, s string) {
	switch f {
	case fClient:
		r.Client = s
	case fMethod:
		r.Method = s
	case fPath:
		r.Path = s
	case fOp:
		r.Op = s
	case fIdemKey:
		r.IdemKey = s
	case fBodyHash:
		r.BodyHash = s
	case fRule:
		r.Rule = s
	case fAction:
		r.Action = s
	case fRetryAfter:
		r.RetryAfter = s
	case fErr:
		r.Err = s
	case fBody:
		r.Body = s
	}
}

func parseBool(p []byte) (v bool, n int, ok bool) {
	if len(p) >= 4 && string(p[:4]) == "true" {
		return true, 4, true
	}
	if len(p) >= 5 && string(p[:5]) == "false" {
		return false, 5, true
	}
	return false, 0, false
}

// digits reads a JSON integer's digits (no leading zero unless alone) as a uint64 and
// rejects a fraction or exponent, which the Record's integer fields refuse anyway.
func digits(p []byte) (v uint64, n int, ok bool) {
	if len(p) == 0 || p[0] < '0' || p[0] > '9' {
		return 0, 0, false
	}
	if p[0] == '0' {
		n = 1
	} else {
		// Eight digits at a time while the value cannot overflow (at most 16 digits so far).
		for n <= 8 && n+8 <= len(p) {
			x := binary.LittleEndian.Uint64(p[n:])
			if !eightDigits(x) {
				break
			}
			v = v*1e8 + parseEight(x)
			n += 8
		}
		for n < len(p) && p[n] >= '0' && p[n] <= '9' {
			d := uint64(p[n] - '0')
			// Nineteen digits stay below 10^19 < 2^64: only a longer number can overflow.
			if n >= 19 && v > (1<<64-1-d)/10 {
				return 0, 0, false
			}
			v = v*10 + d
			n++
		}
	}
	if n < len(p) {
		switch p[n] {
		case '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return 0, 0, false
		}
	}
	return v, n, true
}

// eightDigits reports whether the eight bytes of x (little-endian) are all ASCII digits.
func eightDigits(x uint64) bool {
	return (x&0xF0F0F0F0F0F0F0F0)|(((x+0x0606060606060606)&0xF0F0F0F0F0F0F0F0)>>4) == 0x3333333333333333
}

// parseEight returns the value of eight ASCII digits loaded little-endian (first digit
// in the lowest byte).
func parseEight(x uint64) uint64 {
	x = (x & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8
	x = (x & 0x00FF00FF00FF00FF) * 6553601 >> 16
	return (x & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
}

func parseUint(p []byte) (uint64, int, bool) {
	return digits(p) // a minus sign fails here, as encoding/json fails it for a uint64
}

func parseInt(p []byte) (int64, int, bool) {
	neg := len(p) > 0 && p[0] == '-'
	start := 0
	if neg {
		start = 1
	}
	u, n, ok := digits(p[start:])
	if !ok {
		return 0, 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, 0, false
		}
		return -int64(u), start + n, true
	}
	if u > 1<<63-1 {
		return 0, 0, false
	}
	return int64(u), n, true
}

// parseEscaped decodes the JSON string at the start of p (its opening quote) as
// encoding/json does: escapes decoded, unpaired surrogates and invalid UTF-8 bytes
// replaced by U+FFFD, control characters refused. It is the slow path for strings with
// escapes or invalid UTF-8.
func (d *decoder) parseEscaped(p []byte) (string, int, bool) {
	b := d.scratch[:0]
	for j := 1; j < len(p); {
		c := p[j]
		switch {
		case c == '"':
			d.scratch = b
			return string(b), j + 1, true
		case c < 0x20:
			return "", 0, false
		case c == '\\':
			if j+1 >= len(p) {
				return "", 0, false
			}
			switch p[j+1] {
			case '"', '\\', '/':
				b = append(b, p[j+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(p[j:])
				if rr < 0 {
					return "", 0, false
				}
				j += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, hex4(p[j:])); dec != unicode.ReplacementChar {
						b = utf8.AppendRune(b, dec)
						j += 6
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				return "", 0, false
			}
			j += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			j++
		default:
			rr, size := utf8.DecodeRune(p[j:])
			b = utf8.AppendRune(b, rr)
			j += size
		}
	}
	return "", 0, false
}

// hex4 reads \uXXXX at the start of p, or returns -1.
func hex4(p []byte) rune {
	if len(p) < 6 || p[0] != '\\' || p[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range p[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// internSlot returns the intern cache slot of b (not empty).
func (d *decoder) internSlot(b []byte) int32 {
	n := len(b)
	h := uint(n)*0x9e3779b1 ^ uint(b[0])*0x85ebca6b ^ uint(b[n-1])*0xc2b2ae35 ^ uint(b[n/2])*0x27d4eb2f ^
		uint(b[(n*3)/4])*0x165667b1
	return int32((h ^ h>>15) % internSlots)
}

// formatLineError is the message of a malformed line: "NAME:LINE: malformed journal line: ...".
func formatLineError(name string, line int64, err error) error {
	return fmt.Errorf("%s:%s: %w: %v", name, strconv.FormatInt(line, 10), ErrTornLine, err)
}

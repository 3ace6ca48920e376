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
	"unsafe"
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
// string, so memory stays bounded even when a field's values never repeat. A slot is
// chosen by the value's length and its first and last eight bytes, which also settle
// equality for values of up to sixteen bytes.
const (
	internBits   = 10
	internSlots  = 1 << internBits
	maxInternLen = 96
)

// internEntry is a cached string with its length-and-edge words (see internWords) and,
// for a string of 17 to 24 bytes (a client id among them), its bytes 8 to 16: with head
// and tail they settle equality without comparing the strings.
type internEntry struct {
	head, tail, mid uint64
	s               string
}

// decoder decodes journal lines. The zero value works; a decoder with a non-nil intern
// cache reuses the strings of repeated values. A decoder is not safe for concurrent use.
type decoder struct {
	intern  *[internSlots]internEntry
	scratch []byte
	rec     Record // what ScanInto decodes into before converting
	// views: the strings exact sets alias the line (valid only until it is reused), and
	// nothing is interned or copied; ScanInto's converters copy what they keep.
	views bool
	// spans are the plain (unescaped, valid UTF-8) values of the fields that are not
	// interned, as offsets into the line: setSpans copies them all into one string at the
	// end, carved from arena.
	spans   []span
	spanned uint32 // bit f set: spans may hold a value of field f
	arena   Arena  // where decoded strings are carved from
}

// span is a field's string value, line[lo:hi], and the intern slot (-1 for none) to fill
// with it.
type span struct {
	f      fieldID
	slot   int32
	lo, hi int
}

func newDecoder() *decoder {
	return &decoder{intern: new([internSlots]internEntry)}
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

// fast decodes p into r and reports whether it could. It need not be reset by the
// caller. When it returns false r may hold part of the record.
func (d *decoder) fast(p []byte, r *Record) bool {
	if d.exact(p, r) {
		return true
	}
	*r = Record{RetryAfterMs: NoRetryAfter}
	return d.general(p, r)
}

// The exact layout: what AppendRecord writes between one value and the next, the comma,
// the quoted key, the colon and, before a string, the opening quote.
const (
	xOpen           = `{"seq":`
	xTime           = `,"ts":`
	xMono           = `,"mono":`
	xClient         = `,"client":"`
	xMethod         = `,"method":"`
	xPath           = `,"path":"`
	xOp             = `,"op":"`
	xIdemKey        = `,"idem_key":"`
	xBodyHash       = `,"body_hash":"`
	xAttempt        = `,"attempt":`
	xRule           = `,"rule":"`
	xAction         = `,"action":"`
	xStatus         = `,"status":`
	xRetryAfterMs   = `,"retry_after_ms":`
	xRetryAfter     = `,"retry_after":"`
	xUpstreamStatus = `,"upstream_status":`
	xExecuted       = `,"executed":`
	xReplayed       = `,"replayed":`
	xDurNs          = `,"dur_ns":`
	xErr            = `,"err":"`
	xBody           = `,"body":"`
)

// keyWords is a key text of the exact layout (at most 24 bytes) as little-endian words:
// up to 8 bytes, a holds it under the mask m; for more, a and c are its first and last
// eight bytes and, above 16, b holds the eight bytes after a.
type keyWords struct{ a, b, c, m uint64 }

// exactKeys holds, per field, the key text before its value in the exact layout.
var exactKeys = func() (t [numFields]keyWords) {
	lits := [numFields]string{
		fTime: xTime, fMono: xMono, fClient: xClient, fMethod: xMethod, fPath: xPath, fOp: xOp,
		fIdemKey: xIdemKey, fBodyHash: xBodyHash, fAttempt: xAttempt, fRule: xRule, fAction: xAction,
		fStatus: xStatus, fRetryAfterMs: xRetryAfterMs, fRetryAfter: xRetryAfter,
		fUpstreamStatus: xUpstreamStatus, fExecuted: xExecuted, fReplayed: xReplayed, fDurNs: xDurNs,
		fErr: xErr, fBody: xBody,
	}
	word := func(s string) (w, m uint64) {
		for k := 0; k < len(s) && k < 8; k++ {
			w |= uint64(s[k]) << (8 * k)
			m |= 0xff << (8 * k)
		}
		return w, m
	}
	for f, lit := range lits {
		k := &t[f]
		k.a, k.m = word(lit)
		if len(lit) > 8 {
			k.c, _ = word(lit[len(lit)-8:])
		}
		if len(lit) > 16 {
			k.b, _ = word(lit[8:])
		}
	}
	return t
}()

func le64(p []byte) uint64 { return binary.LittleEndian.Uint64(p) }

// key8, key16 and key24 report whether p[i:] starts with the key text k of at most 8,
// 16 or 24 bytes (n bytes, a constant once they are inlined).
func key8(p []byte, i int, k *keyWords) bool {
	return i >= 0 && i <= len(p)-8 && ld64(p, i)&k.m == k.a
}

func key16(p []byte, i, n int, k *keyWords) bool {
	return i >= 0 && i <= len(p)-n && ld64(p, i) == k.a && ld64(p, i+n-8) == k.c
}

func key24(p []byte, i, n int, k *keyWords) bool {
	return i >= 0 && i <= len(p)-n && ld64(p, i) == k.a && ld64(p, i+8) == k.b && ld64(p, i+n-8) == k.c
}

// exact decodes a line laid out exactly as AppendRecord writes it: every key, in order,
// no whitespace. It is straight-line code with one or two word compares per key and no
// dispatch on the key, and it sets every field of r, so r need not be reset. Any
// departure from the layout (or a string with escapes, an integer of twenty digits)
// makes it give up (r may then hold part of the record) and general takes over. Its
// value parsers accept what general's accept, or less, and fill r as general would.
func (d *decoder) exact(p []byte, r *Record) bool {
	d.spans, d.spanned = d.spans[:0], 0
	if len(p) < 8 || le64(p)&(1<<56-1) != xOpenWord {
		return false
	}
	var u uint64
	i := len(xOpen)
	if u, i = exactNum(p, i, false); i < 0 {
		return false
	}
	r.Seq = u
	if !key8(p, i, &exactKeys[fTime]) {
		return false
	}
	if u, i = exactNum(p, i+len(xTime), true); i < 0 {
		return false
	}
	r.Time = int64(u)
	if !key8(p, i, &exactKeys[fMono]) {
		return false
	}
	if u, i = exactNum(p, i+len(xMono), true); i < 0 {
		return false
	}
	r.Mono = int64(u)
	if !key16(p, i, len(xClient), &exactKeys[fClient]) {
		return false
	}
	if i += len(xClient); i < len(p) && p[i] == '"' {
		r.Client, i = "", i+1
	} else if i = d.internSpan(p, i, fClient, &r.Client); i < 0 {
		return false
	}
	if !key16(p, i, len(xMethod), &exactKeys[fMethod]) {
		return false
	}
	if i += len(xMethod); i < len(p) && p[i] == '"' {
		r.Method, i = "", i+1
	} else if i = d.internSpan(p, i, fMethod, &r.Method); i < 0 {
		return false
	}
	if !key16(p, i, len(xPath), &exactKeys[fPath]) {
		return false
	}
	if i += len(xPath); i < len(p) && p[i] == '"' {
		r.Path, i = "", i+1
	} else if i = d.internSpan(p, i, fPath, &r.Path); i < 0 {
		return false
	}
	if !key8(p, i, &exactKeys[fOp]) {
		return false
	}
	if i += len(xOp); i < len(p) && p[i] == '"' {
		r.Op, i = "", i+1
	} else if i = d.span(p, i, fOp, &r.Op); i < 0 {
		return false
	}
	if !key16(p, i, len(xIdemKey), &exactKeys[fIdemKey]) {
		return false
	}
	if i += len(xIdemKey); i < len(p) && p[i] == '"' {
		r.IdemKey, i = "", i+1
	} else if i = d.span(p, i, fIdemKey, &r.IdemKey); i < 0 {
		return false
	}
	if !key16(p, i, len(xBodyHash), &exactKeys[fBodyHash]) {
		return false
	}
	if i += len(xBodyHash); i < len(p) && p[i] == '"' {
		r.BodyHash, i = "", i+1
	} else if i = d.span(p, i, fBodyHash, &r.BodyHash); i < 0 {
		return false
	}
	if !key16(p, i, len(xAttempt), &exactKeys[fAttempt]) {
		return false
	}
	if u, i = exactNum(p, i+len(xAttempt), true); i < 0 || int64(int(u)) != int64(u) {
		return false
	}
	r.Attempt = int(u)
	if !key16(p, i, len(xRule), &exactKeys[fRule]) {
		return false
	}
	if i += len(xRule); i < len(p) && p[i] == '"' {
		r.Rule, i = "", i+1
	} else if i = d.internSpan(p, i, fRule, &r.Rule); i < 0 {
		return false
	}
	if !key16(p, i, len(xAction), &exactKeys[fAction]) {
		return false
	}
	if i += len(xAction); i < len(p) && p[i] == '"' {
		r.Action, i = "", i+1
	} else if i = d.internSpan(p, i, fAction, &r.Action); i < 0 {
		return false
	}
	if !key16(p, i, len(xStatus), &exactKeys[fStatus]) {
		return false
	}
	if u, i = exactNum(p, i+len(xStatus), true); i < 0 || int64(int(u)) != int64(u) {
		return false
	}
	r.Status = int(u)
	if !key24(p, i, len(xRetryAfterMs), &exactKeys[fRetryAfterMs]) {
		return false
	}
	if u, i = exactNum(p, i+len(xRetryAfterMs), true); i < 0 {
		return false
	}
	r.RetryAfterMs = int64(u)
	if !key16(p, i, len(xRetryAfter), &exactKeys[fRetryAfter]) {
		return false
	}
	if i += len(xRetryAfter); i < len(p) && p[i] == '"' {
		r.RetryAfter, i = "", i+1
	} else if i = d.internSpan(p, i, fRetryAfter, &r.RetryAfter); i < 0 {
		return false
	}
	if !key24(p, i, len(xUpstreamStatus), &exactKeys[fUpstreamStatus]) {
		return false
	}
	if u, i = exactNum(p, i+len(xUpstreamStatus), true); i < 0 || int64(int(u)) != int64(u) {
		return false
	}
	r.UpstreamStatus = int(u)
	if !key16(p, i, len(xExecuted), &exactKeys[fExecuted]) {
		return false
	}
	if r.Executed, i = exactBool(p, i+len(xExecuted)); i < 0 {
		return false
	}
	if !key16(p, i, len(xReplayed), &exactKeys[fReplayed]) {
		return false
	}
	if r.Replayed, i = exactBool(p, i+len(xReplayed)); i < 0 {
		return false
	}
	if !key16(p, i, len(xDurNs), &exactKeys[fDurNs]) {
		return false
	}
	if u, i = exactNum(p, i+len(xDurNs), true); i < 0 {
		return false
	}
	r.DurNs = int64(u)
	if !key8(p, i, &exactKeys[fErr]) {
		return false
	}
	if i += len(xErr); i < len(p) && p[i] == '"' {
		r.Err, i = "", i+1
	} else if i = d.internSpan(p, i, fErr, &r.Err); i < 0 {
		return false
	}
	if !key16(p, i, len(xBody), &exactKeys[fBody]) {
		return false
	}
	if i += len(xBody); i < len(p) && p[i] == '"' {
		r.Body, i = "", i+1
	} else if i = d.span(p, i, fBody, &r.Body); i < 0 {
		return false
	}
	if i >= len(p) || p[i] != '}' || skipSpace(p, i+1) != len(p) {
		return false
	}
	d.setSpans(p, r)
	return true
}

// xOpenWord is xOpen as a little-endian word.
const xOpenWord = '{' | '"'<<8 | 's'<<16 | 'e'<<24 | 'q'<<32 | '"'<<40 | ':'<<48

// nonDigits sets the high bit of each byte of a that is not a digit, where a is eight
// bytes (little-endian) XORed with '0' in each byte, so that a digit is its value.
func nonDigits(a uint64) uint64 {
	return ((a&(ones8*0x7f) + ones8*0x76) | a) & highs8
}

// pow10 holds the powers of ten below 10^8.
var pow10 = [8]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7}

// exactNum reads a JSON integer at p[i:] (no leading zero unless alone; with signed, an
// optional minus sign) and returns it, two's complement for a negative int64, and the
// index after it, or -1. It takes at most nineteen digits, eight at a time, so that the
// digits cannot overflow; a longer number is left to general. Without signed, a minus
// sign fails as encoding/json fails it for a uint64; with signed, a value out of the
// int64 range fails. The byte after the digits is not checked: in the exact layout a key
// follows, which the caller matches.
func exactNum(p []byte, i int, signed bool) (uint64, int) {
	if i < 0 || i > len(p)-8 {
		return 0, -1
	}
	a := ld64(p, i) ^ ones8*'0'
	n := bits.TrailingZeros64(nonDigits(a)) >> 3
	switch {
	case n == 0:
		if signed && p[i] == '-' {
			u, j := exactNum(p, i+1, false)
			if j < 0 || u > 1<<63 {
				return 0, -1
			}
			return -u, j
		}
		return 0, -1
	case n < 8: // fewer than eight digits cannot overflow
		if n > 1 && a&0xff == 0 { // a leading zero
			return 0, -1
		}
		return parseDigits(a << ((64 - 8*n) & 63)), i + n
	}
	u, i := longNum(p, i, a)
	if i < 0 || (signed && u > 1<<63-1) {
		return 0, -1
	}
	return u, i
}

// longNum is exactNum for the digits of a number of eight digits or more, whose first
// eight, at p[i:], are a.
func longNum(p []byte, i int, a uint64) (uint64, int) {
	if a&0xff == 0 { // a leading zero
		return 0, -1
	}
	v := parseDigits(a)
	i += 8
	if i < 0 || i > len(p)-8 {
		return 0, -1
	}
	a = ld64(p, i) ^ ones8*'0'
	if nd := nonDigits(a); nd != 0 {
		n := bits.TrailingZeros64(nd) >> 3
		if n > 0 {
			v = v*pow10[n&7] + parseDigits(a<<((64-8*n)&63))
		}
		return v, i + n
	}
	v = v*1e8 + parseDigits(a)
	i += 8
	if i < 0 || i > len(p)-8 {
		return 0, -1
	}
	a = ld64(p, i) ^ ones8*'0'
	n := bits.TrailingZeros64(nonDigits(a)) >> 3
	if n > 3 { // more than nineteen digits
		return 0, -1
	}
	if n > 0 {
		v = v*pow10[n&7] + parseDigits(a<<((64-8*n)&63))
	}
	return v, i + n
}

// parseDigits returns the value of eight digits, each byte holding one (the first in the
// lowest byte).
func parseDigits(x uint64) uint64 {
	x = x * 2561 >> 8
	x = (x & 0x00FF00FF00FF00FF) * 6553601 >> 16
	return (x & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
}

// exactBool reads true or false at p[i:], which a key follows in the exact layout, and
// returns it and the index after it, or -1.
func exactBool(p []byte, i int) (bool, int) {
	if i < 0 || i > len(p)-8 {
		return false, -1
	}
	w := ld64(p, i)
	if uint32(w) == 't'|'r'<<8|'u'<<16|'e'<<24 {
		return true, i + 4
	}
	if w&(1<<40-1) == 'f'|'a'<<8|'l'<<16|'s'<<24|'e'<<32 {
		return false, i + 5
	}
	return false, -1
}

// closingQuote returns the index of the quote that closes the string whose value starts
// at p[lo], or -1 if the string is not plain ASCII (it has an escape, a control character
// or a non-ASCII byte) or ends less than eight bytes before the end of p.
func closingQuote(p []byte, lo int) int {
	if lo < 0 {
		return -1
	}
	for j := lo; j <= len(p)-8; j += 8 {
		if m := special8Mask(ld64(p, j)); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if p[j] != '"' {
				return -1
			}
			return j
		}
	}
	return -1
}

// plainEnd returns the index of the quote that closes the string whose value starts at
// p[lo] when the string is plain (see plainString), or -1. It is the slow path of
// closingQuote, for strings that are not ASCII or that end near the end of the line.
func plainEnd(p []byte, lo int) int {
	if n, plain := plainString(p[lo-1:]); plain {
		return lo + n - 2
	}
	return -1
}

// span reads the plain string value of field f at p[lo:], after its opening quote and
// not empty, leaves it as a span for setSpans (or, for a decoder of views, sets dst to
// it) and returns the index after its closing quote, or -1.
func (d *decoder) span(p []byte, lo int, f fieldID, dst *string) int {
	j := closingQuote(p, lo)
	if j < 0 {
		if j = plainEnd(p, lo); j < 0 {
			return -1
		}
	}
	if d.views {
		*dst = unsafe.String(&p[lo], j-lo)
		return j + 1
	}
	d.spans = append(d.spans, span{f: f, slot: -1, lo: lo, hi: j})
	return j + 1
}

// internSpan is span for an internable field: a value found in the intern cache is set
// in dst at once.
func (d *decoder) internSpan(p []byte, lo int, f fieldID, dst *string) int {
	j := closingQuote(p, lo)
	if j < 0 {
		if j = plainEnd(p, lo); j < 0 {
			return -1
		}
	}
	if d.views {
		*dst = unsafe.String(&p[lo], j-lo)
		return j + 1
	}
	slot := int32(-1)
	if n := j - lo; d.intern != nil && n <= maxInternLen {
		// lookup, written out: the call would cost more than the lookup.
		var head, tail uint64
		switch {
		case n >= 8: // lo >= 0 (closingQuote or plainEnd found j) and lo+8 <= j < len(p)
			head, tail = ld64(p, lo), ld64(p, j-8)
		case lo <= len(p)-8: // always, when the line goes on with a key
			head = ld64(p, lo) & (1<<(8*uint(n)) - 1)
		default:
			head, tail = internWords(p[lo:j])
		}
		slot = internHash(head, tail, n)
		e := &d.intern[slot]
		if e.head == head && e.tail == tail && len(e.s) == n &&
			(n <= 16 || (n <= 24 && e.mid == ld64(p, lo+8)) || (n > 24 && e.s == string(p[lo:j]))) {
			*dst = e.s
			return j + 1
		}
	}
	d.spans = append(d.spans, span{f: f, slot: slot, lo: lo, hi: j})
	return j + 1
}

// internWords returns the words that key the interning of s (1 to maxInternLen bytes):
// its first and its last eight bytes (zero-padded when shorter). With the length they
// determine a value of at most sixteen bytes.
func internWords[T string | []byte](s T) (head, tail uint64) {
	n := len(s)
	if n >= 8 {
		return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
				uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56,
			uint64(s[n-8]) | uint64(s[n-7])<<8 | uint64(s[n-6])<<16 | uint64(s[n-5])<<24 |
				uint64(s[n-4])<<32 | uint64(s[n-3])<<40 | uint64(s[n-2])<<48 | uint64(s[n-1])<<56
	}
	for k := n - 1; k >= 0; k-- {
		head = head<<8 | uint64(s[k])
	}
	return head, 0
}

// internHash returns the intern cache slot of a value of n bytes with the given words.
func internHash(head, tail uint64, n int) int32 {
	h := (head ^ bits.RotateLeft64(tail, 29) ^ uint64(n)) * 0x9e3779b97f4a7c15
	return int32(h >> (64 - internBits))
}

// lookup finds p[lo:hi] (1 to maxInternLen bytes) in the intern cache. It returns the
// cached string and true, or the slot the value belongs in and false.
func (d *decoder) lookup(p []byte, lo, hi int) (string, int32, bool) {
	n := hi - lo
	var head, tail uint64
	switch {
	case n >= 8:
		head, tail = le64(p[lo:]), le64(p[hi-8:])
	case lo <= len(p)-8:
		head = le64(p[lo:]) & (1<<(8*uint(n)) - 1)
	default:
		head, tail = internWords(p[lo:hi])
	}
	slot := internHash(head, tail, n)
	e := &d.intern[slot]
	if e.head == head && e.tail == tail && len(e.s) == n && (n <= 16 || e.s == string(p[lo:hi])) {
		return e.s, slot, true
	}
	return "", slot, false
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

// setSpans copies the values of the spans into one new string and sets their fields to
// pieces of it: one allocation per record, however many fields, and no bytes of the line
// but the values.
func (d *decoder) setSpans(p []byte, r *Record) {
	spans := d.spans
	total, lo, hi := 0, -1, 0
	for _, sp := range spans {
		if sp.f < numFields {
			total += sp.hi - sp.lo
			if lo < 0 {
				lo = sp.lo
			}
			hi = sp.hi
		}
	}
	if total == 0 {
		return
	}
	// The values usually lie close together (op, idem_key, body_hash): one copy of the
	// stretch that holds them, keys between included, costs less than a copy per value.
	// Spans are in line order; far-apart values are copied one by one.
	var all string
	if n := hi - lo; n <= total+64 {
		buf := d.arena.carve(n)
		copy(buf, p[lo:hi])
		all = unsafe.String(&buf[0], n)
	} else {
		buf := d.arena.carve(total)
		k := 0
		for i := range spans {
			if sp := &spans[i]; sp.f < numFields {
				k += copy(buf[k:], p[sp.lo:sp.hi])
				sp.lo, sp.hi = lo+k-(sp.hi-sp.lo), lo+k // where it lies in all, shifted by lo
			}
		}
		all = unsafe.String(&buf[0], total)
	}
	for _, sp := range spans {
		if sp.f >= numFields {
			continue
		}
		v := all[sp.lo-lo : sp.hi-lo]
		setString(r, sp.f, v)
		if sp.slot >= 0 {
			head, tail := internWords(v)
			d.intern[sp.slot] = newInternEntry(v, head, tail)
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
		var v string
		var hit bool
		if v, slot, hit = d.lookup(line, i+1, i+n-1); hit {
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
	// A byte below 0x20, or equal to a quote or a backslash after the XOR, borrows and so
	// sets its own high bit; a plain byte (0x20 to 0x7f, neither) cannot, and a non-ASCII
	// byte has its high bit set already. A borrow only runs on above a special byte.
	return ((x - ones8*0x20) | (x ^ ones8*'"' - ones8) | (x ^ ones8*'\\' - ones8) | x) & highs8
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

// formatLineError is the message of a malformed line: "NAME:LINE: malformed journal line: ...".
func formatLineError(name string, line int64, err error) error {
	return fmt.Errorf("%s:%s: %w: %v", name, strconv.FormatInt(line, 10), ErrTornLine, err)
}

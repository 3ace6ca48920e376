package journal

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// refAppendRecord is the plain encoder AppendRecord must match byte for byte: strconv for
// the numbers and a rune-by-rune escaper for the strings.
func refAppendRecord(dst []byte, r *Record) []byte {
	str := func(dst []byte, key, s string) []byte {
		dst = append(dst, key...)
		return refAppendString(dst, s)
	}
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, r.Time, 10)
	dst = append(dst, `,"mono":`...)
	dst = strconv.AppendInt(dst, r.Mono, 10)
	dst = str(dst, `,"client":`, r.Client)
	dst = str(dst, `,"method":`, r.Method)
	dst = str(dst, `,"path":`, r.Path)
	dst = str(dst, `,"op":`, r.Op)
	dst = str(dst, `,"idem_key":`, r.IdemKey)
	dst = str(dst, `,"body_hash":`, r.BodyHash)
	dst = append(dst, `,"attempt":`...)
	dst = strconv.AppendInt(dst, int64(r.Attempt), 10)
	dst = str(dst, `,"rule":`, r.Rule)
	dst = str(dst, `,"action":`, r.Action)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, `,"retry_after_ms":`...)
	dst = strconv.AppendInt(dst, r.RetryAfterMs, 10)
	dst = str(dst, `,"retry_after":`, r.RetryAfter)
	dst = append(dst, `,"upstream_status":`...)
	dst = strconv.AppendInt(dst, int64(r.UpstreamStatus), 10)
	dst = append(dst, `,"executed":`...)
	dst = strconv.AppendBool(dst, r.Executed)
	dst = append(dst, `,"replayed":`...)
	dst = strconv.AppendBool(dst, r.Replayed)
	dst = append(dst, `,"dur_ns":`...)
	dst = strconv.AppendInt(dst, r.DurNs, 10)
	dst = str(dst, `,"err":`, r.Err)
	dst = str(dst, `,"body":`, r.Body)
	return append(dst, "}\n"...)
}

// refAppendString is the journal's string escaping spelled out: encoding/json's without
// HTML escaping, with \u00XX for the control characters other than \n, \r and \t, and
// \ufffd for each byte of invalid UTF-8.
func refAppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, hexDigits[r>>4], hexDigits[r&0xf])
		case r == '\u2028':
			dst = append(dst, `\u2028`...)
		case r == '\u2029':
			dst = append(dst, `\u2029`...)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// intEdges are the integers where a formatter goes wrong: 0, ±1, every power of ten and
// its neighbours, the int64 and uint64 extremes, and the eight-digit chunk boundaries.
func intEdges() []uint64 {
	vs := []uint64{0, 1, 9, 10, 11, 99, 100, 101, math.MaxInt64, math.MaxInt64 - 1, 1 << 63, 1<<63 + 1,
		math.MaxUint64, math.MaxUint64 - 1, math.MaxUint32, math.MaxUint32 + 1, 12345678, 123456789,
		1778061600123456789, 99999999, 9999999999999999}
	for p := uint64(1); ; p *= 10 {
		vs = append(vs, p-1, p, p+1, 2*p-1, 5*p, 9*p, 9*p+9)
		if p > math.MaxUint64/10 {
			break
		}
	}
	return vs
}

func TestAppendIntMatchesStrconv(t *testing.T) {
	check := func(u uint64) {
		t.Helper()
		for _, prefix := range [][]byte{nil, []byte("x"), make([]byte, 3, 5), make([]byte, 7, 200)} {
			p := append([]byte(nil), prefix...)
			if got, want := appendUint(p, u), strconv.AppendUint(prefix, u, 10); !bytes.Equal(got, want) {
				t.Fatalf("appendUint(%q, %d) = %q, want %q", prefix, u, got, want)
			}
			v := int64(u)
			p = append([]byte(nil), prefix...)
			if got, want := appendInt(p, v), strconv.AppendInt(prefix, v, 10); !bytes.Equal(got, want) {
				t.Fatalf("appendInt(%q, %d) = %q, want %q", prefix, v, got, want)
			}
			p = append([]byte(nil), prefix...)
			if got, want := appendInt(p, -v), strconv.AppendInt(prefix, -v, 10); !bytes.Equal(got, want) {
				t.Fatalf("appendInt(%q, %d) = %q, want %q", prefix, -v, got, want)
			}
		}
	}
	for _, u := range intEdges() {
		check(u)
	}
	check(uint64(1) << 63) // as int64: MinInt64, whose negation is itself
	for u := range uint64(100_000) {
		check(u)
	}
	rng := rand.New(rand.NewSource(3))
	for range 200_000 {
		check(rng.Uint64() >> rng.Intn(64))
	}
}

func TestDigits8(t *testing.T) {
	for _, x := range []uint32{0, 1, 9, 10, 99, 100, 9999, 10000, 10001, 99999999, 12345678, 10000000, 9999999} {
		var b [8]byte
		for i, w := 0, digits8(x); i < 8; i, w = i+1, w>>8 {
			b[i] = '0' + byte(w)
		}
		if want := strconv.FormatUint(uint64(x)+1e8, 10)[1:]; string(b[:]) != want {
			t.Errorf("digits8(%d) = %q, want %q", x, b[:], want)
		}
	}
	for x := uint32(0); x < 1e8; x += 7 {
		w := digits8(x)
		got := uint32(0)
		for i := 0; i < 8; i++ {
			got = got*10 + uint32(byte(w>>(8*i)))
		}
		if got != x {
			t.Fatalf("digits8(%d) reads back as %d", x, got)
		}
	}
}

// stringCases are strings with every kind of byte at every position of the word-wise paths.
func stringCases() []string {
	specials := []string{"\"", "\\", "\x00", "\x1f", "\n", "\r", "\t", "\b", "\f", "\x7f", "\x80", "\xff",
		"é", "\u2028", "\u2029", "\U0001F600", "\xe2\x80", "\xed\xa0\x80", "<", ">", "&", " ", "~"}
	var out []string
	for n := 0; n <= 40; n++ {
		plain := strings.Repeat("a", n)
		out = append(out, plain)
		for i := 0; i <= n; i++ {
			for _, sp := range specials {
				out = append(out, plain[:i]+sp+plain[i:])
			}
		}
	}
	rng := rand.New(rand.NewSource(4))
	for range 20000 {
		b := make([]byte, rng.Intn(48))
		for i := range b {
			switch rng.Intn(4) {
			case 0:
				b[i] = byte(rng.Intn(256))
			default:
				b[i] = byte(0x20 + rng.Intn(0x5f))
			}
		}
		out = append(out, string(b))
	}
	return out
}

func TestAppendStringMatchesReference(t *testing.T) {
	for _, s := range stringCases() {
		for _, prefix := range [][]byte{nil, []byte("x"), make([]byte, 5, 9), make([]byte, 3, 300)} {
			p := append([]byte(nil), prefix...)
			got := append(appendStringBody(append(p, '"'), s), '"')
			want := refAppendString(append([]byte(nil), prefix...), s)
			if !bytes.Equal(got, want) {
				t.Fatalf("appendStringBody(%q) = %q, want %q", s, got, want)
			}
		}
		// The same bytes as encoding/json, but for \b and \f, which the journal has always
		// written as \u0008 and \u000c.
		if got, want := refAppendString(nil, s), viaEncoder(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: journal escaping %s, encoding/json %s", s, got, want)
		}
	}
}

// viaEncoder is encoding/json's encoding of s without HTML escaping, with \b and \f
// spelled \u0008 and \u000c.
func viaEncoder(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	in := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	var out []byte
	for i := 0; i < len(in); i++ {
		if in[i] != '\\' {
			out = append(out, in[i])
			continue
		}
		i++
		switch in[i] {
		case 'b':
			out = append(out, `\u0008`...)
		case 'f':
			out = append(out, `\u000c`...)
		default:
			out = append(out, '\\', in[i])
		}
	}
	return out
}

func TestAppendRecordMatchesReference(t *testing.T) {
	recs := []Record{{}, sampleRecord(), {Seq: math.MaxUint64, Time: math.MinInt64, Mono: math.MaxInt64,
		Attempt: math.MaxInt, Status: math.MinInt, RetryAfterMs: -1, UpstreamStatus: -9, DurNs: -1,
		Executed: true}, {Replayed: true, Body: strings.Repeat("\u2028x\"", 500)}}
	var gen bytes.Buffer
	if err := Generate(&gen, 2000, 5); err != nil {
		t.Fatal(err)
	}
	for _, l := range bytes.SplitAfter(gen.Bytes(), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var r Record
		if err := Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	ss := stringCases()
	for i := range 3000 {
		r := recs[i%len(recs)]
		r.Client, r.Path, r.Err, r.Body = ss[i%len(ss)], ss[(i*7)%len(ss)], ss[(i*13)%len(ss)], ss[(i*31)%len(ss)]
		r.Executed, r.Replayed = i&1 != 0, i&2 != 0
		recs = append(recs, r)
	}
	// Appending after earlier records, with and without room, must not disturb them.
	var got, want []byte
	for i := range recs {
		if i%97 == 0 {
			got, want = nil, nil
		}
		got = AppendRecord(got, &recs[i])
		want = refAppendRecord(want, &recs[i])
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: AppendRecord =\n%s\nwant\n%s", i, got, want)
		}
	}
}

// FuzzAppendRecordMatchesReference holds AppendRecord to refAppendRecord for arbitrary values.
func FuzzAppendRecordMatchesReference(f *testing.F) {
	s := sampleRecord()
	f.Add(s.Seq, s.Time, s.Mono, s.Client, s.Path, s.Op, s.Attempt, s.Status, s.RetryAfterMs, s.DurNs, s.Err, s.Body, true)
	f.Add(uint64(math.MaxUint64), int64(math.MinInt64), int64(math.MaxInt64), "\x00\x1f\"\\", "\xff\xfe",
		"\u2028\u2029", math.MinInt, math.MaxInt, int64(-1), int64(0), "é\xc3", "a\u0000b", false)
	f.Fuzz(func(t *testing.T, seq uint64, ts, mono int64, client, path, op string, attempt, status int,
		raMs, dur int64, errText, body string, executed bool) {
		r := Record{Seq: seq, Time: ts, Mono: mono, Client: client, Method: client, Path: path, Op: op,
			IdemKey: op, BodyHash: path, Attempt: attempt, Rule: errText, Action: body, Status: status,
			RetryAfterMs: raMs, RetryAfter: errText, UpstreamStatus: attempt, Executed: executed,
			Replayed: !executed, DurNs: dur, Err: errText, Body: body}
		if got, want := AppendRecord([]byte("x"), &r), refAppendRecord([]byte("x"), &r); !bytes.Equal(got, want) {
			t.Fatalf("AppendRecord =\n%q\nwant\n%q", got, want)
		}
	})
}

func TestEscape8(t *testing.T) {
	naive := func(x uint64) bool {
		for k := 0; k < 8; k++ {
			if !plainASCII[byte(x>>(8*k))] {
				return true
			}
		}
		return false
	}
	rng := rand.New(rand.NewSource(1))
	words := []uint64{0, math.MaxUint64, 0x4141414141414141, 0x2020202020202020, 0x7e7e7e7e7e7e7e7e, 0x7f7f7f7f7f7f7f7f}
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			for _, fill := range []uint64{0x6161616161616161, 0x2020202020202020, 0x7f7f7f7f7f7f7f7f, 0x2323232323232323, 0x5d5d5d5d5d5d5d5d} {
				words = append(words, fill&^(0xff<<(8*pos))|uint64(c)<<(8*pos))
			}
		}
	}
	for range 200000 {
		words = append(words, rng.Uint64(), rng.Uint64()&0x7f7f7f7f7f7f7f7f|0x2020202020202020)
	}
	for _, x := range words {
		if got, want := escape8(x) != 0, naive(x); got != want {
			t.Fatalf("escape8(%#x) != 0 is %v, want %v", x, got, want)
		}
	}
}

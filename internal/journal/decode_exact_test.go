package journal

import (
	"bytes"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// nextSpecialBytewise is the definition nextSpecial must match.
func nextSpecialBytewise(p []byte, j int) int {
	for j < len(p) && plainASCII[p[j]] {
		j++
	}
	return j
}

func TestNextSpecialMatchesBytewise(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "all plain", in: strings.Repeat("abcdefgh", 5)},
		{name: "quote first", in: `"abcdefghijk`},
		{name: "quote in the second word", in: `abcdefghij"k`},
		{name: "control byte then quote", in: "abcd\x1f\"efgh"},
		{name: "space before a control byte", in: "abc \x00defghijk"},
		{name: "backslash after a borrow", in: "ab\x01\\cdefgh"},
		{name: "non-ASCII", in: "abcdefg\xc3\xa9"},
		{name: "0x20 after a control byte", in: "\x1f cdefghijk"},
		{name: "DEL is plain", in: "abc\x7fdefghij\""},
		{name: "short tail", in: "abcdefghij"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := []byte(tt.in)
			for j := 0; j <= len(p); j++ {
				if got, want := nextSpecial(p, j), nextSpecialBytewise(p, j); got != want {
					t.Errorf("nextSpecial(%q, %d) = %d, want %d", p, j, got, want)
				}
			}
		})
	}
	t.Run("random words", func(t *testing.T) {
		rng := rand.New(rand.NewSource(7))
		alphabet := []byte("ab \x00\x1f\x20\"\\\x7f\x80\xff~")
		p := make([]byte, 24)
		for range 200_000 {
			for i := range p {
				if rng.Intn(4) == 0 {
					p[i] = alphabet[rng.Intn(len(alphabet))]
				} else {
					p[i] = byte(0x21 + rng.Intn(0x5e))
				}
			}
			j := rng.Intn(len(p) + 1)
			if got, want := nextSpecial(p, j), nextSpecialBytewise(p, j); got != want {
				t.Fatalf("nextSpecial(%q, %d) = %d, want %d", p, j, got, want)
			}
		}
	})
}

// TestExactPathMatchesGeneral holds the straight-line path for the writer's layout to the
// general path on generated records and on lines that leave the layout part way.
func TestExactPathMatchesGeneral(t *testing.T) {
	var buf bytes.Buffer
	if err := Generate(&buf, 2000, 11); err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	lines = lines[:len(lines)-1]
	sample := ptr(sampleRecord())
	lines = append(lines,
		AppendRecord(nil, sample),
		AppendRecord(nil, &Record{RetryAfterMs: -1, Err: "a \"quoted\" error\n", Path: "/caf\u00e9"}),
		bytes.Replace(AppendRecord(nil, sample), []byte(`,"op":`), []byte(`, "op":`), 1),
		bytes.Replace(AppendRecord(nil, sample), []byte(`,"body":""}`), []byte(`}`), 1),
		bytes.TrimSuffix(AppendRecord(nil, sample), []byte("\n")),
	)
	exact, general := newDecoder(), newDecoder()
	generated, offLayout := 2000, len(lines)-3 // generated lines take the exact path; the last three cannot
	for i, l := range lines {
		probe := Record{RetryAfterMs: NoRetryAfter}
		ok := exact.exact(l, &probe)
		if (i < generated && !ok) || (i >= offLayout && ok) {
			t.Fatalf("line %d: exact = %v for %q", i, ok, l)
		}
		want := Record{RetryAfterMs: NoRetryAfter}
		if !general.general(l, &want) {
			t.Fatalf("line %d: general path refused %q", i, l)
		}
		got := Record{RetryAfterMs: NoRetryAfter}
		if !exact.fast(l, &got) {
			t.Fatalf("line %d: fast refused %q", i, l)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("line %d: fast = %+v\nwant %+v", i, got, want)
		}
	}
}

func TestDigitsOverflowBoundary(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint64
		ok   bool
	}{
		{name: "one digit", in: "7,", want: 7, ok: true},
		{name: "eighteen digits", in: "999999999999999999}", want: 999999999999999999, ok: true},
		{name: "nineteen digits", in: "9999999999999999999,", want: 9999999999999999999, ok: true},
		{name: "max uint64", in: "18446744073709551615", want: 18446744073709551615, ok: true},
		{name: "max uint64 plus one", in: "18446744073709551616", ok: false},
		{name: "twenty nines", in: "99999999999999999999", ok: false},
		{name: "twenty-one digits", in: "100000000000000000000", ok: false},
		{name: "leading zero", in: "01", ok: false},
		{name: "fraction", in: "12.5", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _, ok := digits([]byte(tt.in))
			if ok != tt.ok || (ok && v != tt.want) {
				t.Errorf("digits(%q) = %d, %v; want %d, %v", tt.in, v, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestExactTruncatedLines feeds every prefix of writer lines to the decoder: none may
// panic, and each must be accepted or refused as encoding/json does.
func TestExactTruncatedLines(t *testing.T) {
	var buf bytes.Buffer
	if err := Generate(&buf, 50, 5); err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	lines = append(lines[:len(lines)-1], AppendRecord(nil, ptr(sampleRecord())),
		AppendRecord(nil, &Record{Method: "G", Rule: "r", Action: "a", Err: "e", Seq: 1 << 63}))
	d := newDecoder()
	for _, l := range lines {
		for n := 0; n <= len(l); n++ {
			line := bytes.Clone(l[:n]) // exact length, so that reads past the end panic
			want, werr := viaEncodingJSON(line)
			var got Record
			err := d.decode(line, &got)
			if (err == nil) != (werr == nil) || (err == nil && !reflect.DeepEqual(got, want)) {
				t.Fatalf("decode(%q) = %+v, %v; encoding/json %+v, %v", line, got, err, want, werr)
			}
		}
	}
}

// TestExactNum holds the exact layout's integer parser, with the key match that follows
// it, to the general one: whatever it accepts the general parser accepts with the same
// value and length, and it refuses only numbers of twenty digits or more among those the
// general parser accepts.
func TestExactNum(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	inputs := []string{"0", "7", "-0", "-7", "00", "-00", "01", "-01", "12345678", "1234567", "123456789",
		"0123456789", "1234567890123456", "12345678901234567", "1234567890123456789",
		"18446744073709551615", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
		"-9223372036854775809", "9999999999999999999", "-", "--1", "+1", "", "a", "-a", "1.5", "1e3"}
	for range 20000 {
		s := strconv.FormatUint(rng.Uint64()>>rng.Intn(64), 10)
		if rng.Intn(3) == 0 {
			s = "-" + s
		}
		inputs = append(inputs, s)
	}
	for _, in := range inputs {
		for _, signed := range []bool{false, true} {
			p := []byte(in + `,"key":1}`)
			u, j := exactNum(p, 0, signed)
			if j >= 0 && p[j] != ',' {
				j = -1 // the key match after the number refuses the line
			}
			var want uint64
			var n int
			var ok bool
			if signed {
				var v int64
				v, n, ok = parseInt(p)
				want = uint64(v)
			} else {
				want, n, ok = parseUint(p)
			}
			digits := strings.TrimPrefix(in, "-")
			if j >= 0 && (!ok || u != want || j != n) {
				t.Fatalf("exactNum(%q, %v) = %d, %d; general: %d, %d, %v", in, signed, u, j, want, n, ok)
			}
			if j < 0 && ok && len(digits) < 20 {
				t.Fatalf("exactNum(%q, %v) refused what general accepts (%d)", in, signed, want)
			}
		}
	}
}

// TestInternSameEdges decodes values that share their length and their first and last
// eight bytes, which pick the intern slot: each must come back as written.
func TestInternSameEdges(t *testing.T) {
	d := newDecoder()
	for round := range 2 {
		for i := range 300 {
			mid := strconv.Itoa(1000 + i)
			r := Record{Seq: uint64(i), RetryAfterMs: NoRetryAfter, Client: "k_aaaaaaaa" + mid + "bbbbbbbb",
				Rule: "rule-" + mid[1:], Err: "prefix::" + mid + "::suffix", Method: mid[:3], Action: mid[3:]}
			for _, line := range [][]byte{AppendRecord(nil, &r), []byte(strings.Replace(string(AppendRecord(nil, &r)), ",", ", ", -1))} {
				var got Record
				if err := d.decode(line, &got); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, r) {
					t.Fatalf("round %d: decoded %+v, want %+v", round, got, r)
				}
			}
		}
	}
}

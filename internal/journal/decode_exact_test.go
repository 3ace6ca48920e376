package journal

import (
	"bytes"
	"math/rand"
	"reflect"
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

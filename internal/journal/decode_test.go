package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

// sampleRecord is a record using every field.
func sampleRecord() Record {
	return Record{
		Seq: 42, Time: 1778061600123456789, Mono: 123456789,
		Client: HashKey("sk_live_1"), Method: "POST", Path: "/v1/calls",
		Op: "4f163f5f-0f9a-421d-b295-66c74d10037c", IdemKey: "842746e9-95af-4a25-b679-51baa2ff6cd4",
		BodyHash: "4d7bbb04071e0016", Attempt: 2, Rule: "per-key-limit", Action: ActionRateLimit,
		Status: 429, RetryAfterMs: 12000, RetryAfter: "Wed, 06 May 2026 10:00:12 GMT",
		UpstreamStatus: 0, Executed: true, Replayed: true, DurNs: 31000,
		Err: `dial tcp 127.0.0.1:9: "refused"`, Body: "{\"to_number\":\"+14155550100\"}\n\t\u2028é\x01",
	}
}

// viaEncodingJSON is the reference: what encoding/json makes of line.
func viaEncodingJSON(line []byte) (Record, error) {
	r := Record{RetryAfterMs: NoRetryAfter}
	err := json.Unmarshal(line, &r)
	return r, err
}

func TestUnmarshalMatchesEncodingJSON(t *testing.T) {
	full := string(AppendRecord(nil, ptr(sampleRecord())))
	tests := []struct {
		name string
		line string
		fast bool // the fast decoder must accept it
		ok   bool // encoding/json accepts it
	}{
		{"writer output", full, true, true},
		{"writer output without newline", strings.TrimSuffix(full, "\n"), true, true},
		{"crlf", strings.TrimSuffix(full, "\n") + "\r\n", true, true},
		{"empty object", `{}`, true, true},
		{"subset in order", `{"seq":1,"status":503}`, true, true},
		{"other order", `{"status":503,"seq":1,"client":"k_1"}`, true, true},
		{"whitespace", " { \"seq\" : 1 ,\n\t\"op\" : \"a\" } \n", true, true},
		{"duplicate key last wins", `{"seq":1,"seq":2}`, true, true},
		{"negative ints", `{"ts":-5,"retry_after_ms":-1,"attempt":-0}`, true, true},
		{"int64 extremes", `{"ts":9223372036854775807,"mono":-9223372036854775808}`, true, true},
		{"uint64 max", `{"seq":18446744073709551615}`, true, true},
		{"escapes", `{"err":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u2028"}`, true, true},
		{"surrogate pair", `{"body":"\ud83d\ude00"}`, true, true},
		{"lone high surrogate", `{"body":"\ud83dx"}`, true, true},
		{"lone low surrogate", `{"body":"\ude00"}`, true, true},
		{"high surrogate then non-low", `{"body":"\ud83d\u0041"}`, true, true},
		{"two high surrogates", `{"body":"\ud83d\ud83d\ude00"}`, true, true},
		{"invalid utf8", "{\"body\":\"a\xffb\xc3\"}", true, true},
		{"raw utf8", `{"path":"/v1/caf\u00e9/é/日本"}`, true, true},
		{"unknown key ignored", `{"seq":1,"extra":{"a":[1,2,null]}}`, false, true},
		{"key in another case", `{"SEQ":7}`, false, true},
		{"escaped key", `{"se\u0071":7}`, false, true},
		{"null value", `{"retry_after_ms":null,"client":null}`, false, true},
		{"null line", `null`, false, true},
		{"float in int", `{"status":1.0}`, false, false},
		{"exponent in int", `{"status":1e2}`, false, false},
		{"negative uint", `{"seq":-1}`, false, false},
		{"uint overflow", `{"seq":18446744073709551616}`, false, false},
		{"int overflow", `{"ts":9223372036854775808}`, false, false},
		{"leading zero", `{"status":01}`, false, false},
		{"plus sign", `{"status":+1}`, false, false},
		{"string in int", `{"status":"200"}`, false, false},
		{"number in string", `{"client":5}`, false, false},
		{"number in plain string field", `{"op":0"}`, false, false},
		{"plain then escaped duplicate", `{"op":"b","idem_key":"k","op":"a\u0041","idem_key":"z"}`, true, true},
		{"escaped string in plain string field", `{"op":"a\u0041","op":"b","body":"x","body":"\n"}`, true, true},
		{"bool as string", `{"executed":"true"}`, false, false},
		{"control char in string", "{\"err\":\"a\tb\"}", false, false},
		{"bad escape", `{"err":"\x"}`, false, false},
		{"single quote escape", `{"err":"\'"}`, false, false},
		{"short unicode escape", `{"err":"\u12"}`, false, false},
		{"truncated", full[:200], false, false},
		{"trailing comma", `{"seq":1,}`, false, false},
		{"trailing garbage", `{"seq":1}x`, false, false},
		{"two objects", `{"seq":1}{"seq":2}`, false, false},
		{"array", `[1]`, false, false},
		{"empty", ``, false, false},
		{"missing colon", `{"seq" 1}`, false, false},
		{"unterminated string", `{"client":"abc`, false, false},
		{"True", `{"executed":True}`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, werr := viaEncodingJSON([]byte(tt.line))
			if (werr == nil) != tt.ok {
				t.Fatalf("encoding/json error = %v, table says ok=%v", werr, tt.ok)
			}
			var got Record
			err := Unmarshal([]byte(tt.line), &got)
			if (err == nil) != (werr == nil) {
				t.Fatalf("Unmarshal error = %v, encoding/json error = %v", err, werr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Errorf("Unmarshal = %+v\nwant        %+v", got, want)
			}
			var fast Record
			fast.RetryAfterMs = NoRetryAfter
			if ok := newDecoder().fast([]byte(tt.line), &fast); ok != tt.fast {
				t.Errorf("fast path accepted = %v, want %v", ok, tt.fast)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"zero", Record{}},
		{"no retry-after", Record{Seq: 1, RetryAfterMs: NoRetryAfter, Status: 200}},
		{"full", sampleRecord()},
		{"extremes", Record{Seq: math.MaxUint64, Time: math.MinInt64, Mono: math.MaxInt64, Attempt: math.MaxInt,
			Status: math.MinInt, DurNs: -1}},
		{"html chars kept", Record{Path: "/a?b=<c>&d", Body: "<script>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := AppendRecord(nil, &tt.rec)
			if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
				t.Fatalf("AppendRecord = %q, want one line", line)
			}
			var got Record
			if err := Unmarshal(line, &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tt.rec) {
				t.Errorf("round trip = %+v\nwant       %+v", got, tt.rec)
			}
			if !json.Valid(line) {
				t.Errorf("AppendRecord wrote invalid JSON: %s", line)
			}
			want, err := json.Marshal(&tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			var fromStd Record
			if err := json.Unmarshal(want, &fromStd); err != nil || !reflect.DeepEqual(fromStd, got) {
				t.Errorf("encoding/json reads a different record: %+v (%v)", fromStd, err)
			}
		})
	}
}

func TestInterning(t *testing.T) {
	d := newDecoder()
	line := AppendRecord(nil, ptr(sampleRecord()))
	var a, b Record
	if err := d.decode(line, &a); err != nil {
		t.Fatal(err)
	}
	if err := d.decode(line, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("decodes differ")
	}
	if unsafe.StringData(a.Client) != unsafe.StringData(b.Client) || unsafe.StringData(a.Path) != unsafe.StringData(b.Path) {
		t.Errorf("client and path not interned")
	}
	// Many distinct values (more than the cache holds) still decode to the right strings.
	for i := range 3 * internSlots {
		r := Record{Path: fmt.Sprintf("/v1/calls/call_%d", i), Client: HashKey(fmt.Sprint(i % 7)), Method: "GET"}
		var got Record
		if err := d.decode(AppendRecord(nil, &r), &got); err != nil {
			t.Fatal(err)
		}
		if got.Path != r.Path || got.Client != r.Client || got.Method != r.Method {
			t.Fatalf("decoded %+v, want %+v", got, r)
		}
	}
}

// Values of 17 to 24 bytes that share their first and last eight bytes (and so their
// intern slot) differ in the middle: each decodes to itself, however they alternate.
func TestInterningMiddleBytes(t *testing.T) {
	d := newDecoder()
	for n := 17; n <= 26; n++ {
		var vals []string
		// byte 8 (mid[0]) lies in neither the first nor the last eight bytes for n <= 24
		for _, mid := range []string{"aaaaaaaaaaaa", "baaaaaaaaaaa", "abaaaaaaaaaa", "aaaaabaaaaaa", "zzzzzzzzzzzz"} {
			vals = append(vals, "k_"+"0123456"[:6]+mid[:n-14]+"9876543"[:6])
		}
		for i := range 4 * len(vals) {
			want := vals[(i*3)%len(vals)]
			var got Record
			if err := d.decode(AppendRecord(nil, &Record{Client: want, Path: want}), &got); err != nil {
				t.Fatal(err)
			}
			if got.Client != want || got.Path != want {
				t.Fatalf("n=%d: decoded client %q path %q, want %q", n, got.Client, got.Path, want)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzDecoderMatchesEncodingJSON holds the hand-written decoder to encoding/json: it must
// accept exactly the same lines and produce the same Record, and its fast path must never
// accept what encoding/json refuses.
func FuzzDecoderMatchesEncodingJSON(f *testing.F) {
	seeds := []string{
		string(AppendRecord(nil, ptr(sampleRecord()))),
		string(AppendRecord(nil, &Record{RetryAfterMs: -1})),
		`{}`, `{"seq":1,"seq":2}`, `{"body":"\ud83d\ude00\ud83d"}`, "{\"err\":\"\xff\"}",
		`{"status":1.5}`, `{"SEQ":1}`, ` {"op" : "x" } `, `{"x":null}`, `null`, `{"ts":-0}`,
	}
	var gen bytes.Buffer
	if err := Generate(&gen, 20, 3); err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(gen.Bytes(), []byte("\n")) {
		seeds = append(seeds, string(l))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	d := newDecoder()
	f.Fuzz(func(t *testing.T, line []byte) {
		want, werr := viaEncodingJSON(line)
		var got Record
		err := d.decode(line, &got)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decode error = %v, encoding/json error = %v, line %q", err, werr, line)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decode = %+v\nwant     %+v\nline %q", got, want, line)
		}
		fast := Record{RetryAfterMs: NoRetryAfter}
		if d.fast(line, &fast) {
			if werr != nil {
				t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", line, werr)
			}
			if !reflect.DeepEqual(fast, want) {
				t.Fatalf("fast = %+v\nwant   %+v\nline %q", fast, want, line)
			}
		}
	})
}

// FuzzRoundTrip checks AppendRecord then Unmarshal for arbitrary field values: the fast
// path must accept the writer's output, and strings come back as written (invalid UTF-8
// bytes replaced by U+FFFD, as encoding/json does).
func FuzzRoundTrip(f *testing.F) {
	s := sampleRecord()
	f.Add(s.Seq, s.Time, s.Mono, s.Client, s.Method, s.Path, s.Op, s.IdemKey, s.BodyHash, s.Attempt, s.Rule,
		s.Action, s.Status, s.RetryAfterMs, s.RetryAfter, s.UpstreamStatus, s.Executed, s.Replayed, s.DurNs, s.Err, s.Body)
	f.Add(uint64(0), int64(-1), int64(0), "", "", "\x00\x1f\"\\", "\xff\xfe", "\u2028\u2029", "\ud7ff", 0, "<>&",
		"\U0001F600", -1, int64(math.MinInt64), "\x7f", 0, false, true, int64(math.MaxInt64), "é\xc3", "a\u0000b")
	d := newDecoder()
	f.Fuzz(func(t *testing.T, seq uint64, ts, mono int64, client, method, path, op, idem, bodyHash string,
		attempt int, rule, action string, status int, raMs int64, ra string, upstream int, executed, replayed bool,
		dur int64, errText, body string) {
		in := Record{Seq: seq, Time: ts, Mono: mono, Client: client, Method: method, Path: path, Op: op,
			IdemKey: idem, BodyHash: bodyHash, Attempt: attempt, Rule: rule, Action: action, Status: status,
			RetryAfterMs: raMs, RetryAfter: ra, UpstreamStatus: upstream, Executed: executed, Replayed: replayed,
			DurNs: dur, Err: errText, Body: body}
		line := AppendRecord(nil, &in)
		if !json.Valid(line) {
			t.Fatalf("AppendRecord wrote invalid JSON %q", line)
		}
		got := Record{RetryAfterMs: NoRetryAfter}
		if !d.fast(line, &got) {
			t.Fatalf("fast path refused the writer's output %q", line)
		}
		want := in
		for _, p := range []*string{&want.Client, &want.Method, &want.Path, &want.Op, &want.IdemKey, &want.BodyHash,
			&want.Rule, &want.Action, &want.RetryAfter, &want.Err, &want.Body} {
			*p = validUTF8(*p)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip = %+v\nwant       %+v", got, want)
		}
		std, err := viaEncodingJSON(line)
		if err != nil || !reflect.DeepEqual(std, got) {
			t.Fatalf("encoding/json reads %+v (%v), decoder %+v", std, err, got)
		}
	})
}

// validUTF8 replaces every byte of invalid UTF-8 by U+FFFD, one per byte.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s))
}

func TestSpecial8(t *testing.T) {
	naive := func(x uint64) bool {
		for k := 0; k < 8; k++ {
			c := byte(x >> (8 * k))
			if !plainASCII[c] {
				return true
			}
		}
		return false
	}
	rng := rand.New(rand.NewSource(1))
	words := []uint64{0, 0x4141414141414141, 0x2020202020202020, 0x7e7e7e7e7e7e7e7e}
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			words = append(words, 0x6161616161616161&^(0xff<<(8*pos))|uint64(c)<<(8*pos))
		}
	}
	for range 100000 {
		words = append(words, rng.Uint64(), rng.Uint64()&0x7f7f7f7f7f7f7f7f|0x2020202020202020)
	}
	for _, x := range words {
		if got, want := special8(x), naive(x); got != want {
			t.Fatalf("special8(%#x) = %v, want %v", x, got, want)
		}
	}
}

func TestDigits(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	inputs := []string{"0", "7", "12345678", "123456789", "1234567890123456", "12345678901234567",
		"18446744073709551615", "18446744073709551616", "99999999999999999999", "1778061600123456789",
		"00", "01", "1.5", "1e3", "12345678x", "1234567/", "1234567:", "", "-1", "9223372036854775808"}
	for range 20000 {
		inputs = append(inputs, strconv.FormatUint(rng.Uint64()>>rng.Intn(64), 10)+string("x,}.e5"[rng.Intn(6)]))
	}
	for _, in := range inputs {
		v, n, ok := digits([]byte(in))
		// Reference: the longest digit prefix, valid JSON integer, no fraction/exponent.
		end := 0
		for end < len(in) && in[end] >= '0' && in[end] <= '9' {
			end++
		}
		want, err := strconv.ParseUint(in[:end], 10, 64)
		wantOK := end > 0 && err == nil && !(in[0] == '0' && end > 1) &&
			(end == len(in) || !strings.ContainsRune(".eE", rune(in[end])))
		if in != "" && in[0] == '0' {
			end, want, wantOK = 1, 0, len(in) == 1 || !strings.ContainsRune(".eE0123456789", rune(in[1]))
		}
		if ok != wantOK || (ok && (v != want || n != end)) {
			t.Fatalf("digits(%q) = %d, %d, %v; want %d, %d, %v", in, v, n, ok, want, end, wantOK)
		}
	}
}

// Interner.Intern returns a copy of its argument, the same copy for a value seen again
// while it holds its slot, and tells apart values that share their length and edge words
// (and so their slot).
func TestInternerStrings(t *testing.T) {
	var in Interner
	var a Arena
	vals := []string{"/v1/calls", "/v1/calls/call_1", "k_0123456aaa987654", "k_0123456baa987654",
		"/v1/x/" + strings.Repeat("a", 30) + "/z", "/v1/x/" + strings.Repeat("b", 30) + "/z", strings.Repeat("p", 200)}
	for round := range 3 {
		for _, v := range vals {
			buf := []byte(v)
			got := in.Intern(string(buf), &a)
			buf[0] = '#' // the caller's bytes change: the kept copy must not
			if got != v {
				t.Fatalf("round %d: Intern(%q) = %q", round, v, got)
			}
			again := in.Intern(v, &a)
			if len(v) <= maxInternLen && unsafe.StringData(again) != unsafe.StringData(got) {
				t.Errorf("round %d: %q kept twice in a row", round, v)
			}
		}
	}
}

package journal

import (
	"strconv"
	"unicode/utf8"
)

// AppendRecord appends r as one JSON line (with the trailing newline) to dst and returns
// the extended buffer. It writes the fields in Record's declared order, which is the
// order Unmarshal's fast path expects.
func AppendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, r.Time, 10)
	dst = append(dst, `,"mono":`...)
	dst = strconv.AppendInt(dst, r.Mono, 10)
	dst = appendStringField(dst, `,"client":`, r.Client)
	dst = appendStringField(dst, `,"method":`, r.Method)
	dst = appendStringField(dst, `,"path":`, r.Path)
	dst = appendStringField(dst, `,"op":`, r.Op)
	dst = appendStringField(dst, `,"idem_key":`, r.IdemKey)
	dst = appendStringField(dst, `,"body_hash":`, r.BodyHash)
	dst = append(dst, `,"attempt":`...)
	dst = strconv.AppendInt(dst, int64(r.Attempt), 10)
	dst = appendStringField(dst, `,"rule":`, r.Rule)
	dst = appendStringField(dst, `,"action":`, r.Action)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, `,"retry_after_ms":`...)
	dst = strconv.AppendInt(dst, r.RetryAfterMs, 10)
	dst = appendStringField(dst, `,"retry_after":`, r.RetryAfter)
	dst = append(dst, `,"upstream_status":`...)
	dst = strconv.AppendInt(dst, int64(r.UpstreamStatus), 10)
	dst = append(dst, `,"executed":`...)
	dst = strconv.AppendBool(dst, r.Executed)
	dst = append(dst, `,"replayed":`...)
	dst = strconv.AppendBool(dst, r.Replayed)
	dst = append(dst, `,"dur_ns":`...)
	dst = strconv.AppendInt(dst, r.DurNs, 10)
	dst = appendStringField(dst, `,"err":`, r.Err)
	dst = appendStringField(dst, `,"body":`, r.Body)
	return append(dst, "}\n"...)
}

func appendStringField(dst []byte, key, s string) []byte {
	dst = append(dst, key...)
	return appendString(dst, s)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (without HTML escaping) and replacing invalid UTF-8 with U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip eight plain bytes at a time.
		for i+8 <= len(s) && !special8(load8(s, i)) {
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
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// load8 returns s[i:i+8] as a little-endian uint64 (one load once compiled).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// Package journal defines retrylab's journal: one JSON Lines record per attempt that
// the fault proxy saw, the append-only evidence every check in analysis/ is computed from.
//
// The schema is documented in docs/JOURNAL.md. Records are written by a buffered Writer off
// the request path and read back by a streaming Reader that tolerates a torn last line.
// The journal never stores secrets: API keys are hashed (see HashKey), the Authorization
// header is never recorded, and request bodies are stored as a hash unless asked for.
package journal

import (
	"crypto/sha256"
	"encoding/hex"
)

// Version is the journal schema version written in docs/JOURNAL.md.
const Version = 1

// Actions recorded in Record.Action.
const (
	ActionForward      = "forward"       // passed to the target untouched
	ActionRespond      = "respond"       // answered by the proxy without forwarding
	ActionLoseResponse = "lose_response" // forwarded, executed upstream, answer replaced
	ActionDelay        = "delay"         // forwarded after/before an injected delay
	ActionReset        = "reset"         // connection reset before any byte
	ActionHang         = "hang"          // held without answer (bounded)
	ActionTruncate     = "truncate"      // partial body then close
	ActionSlowBody     = "slow_body"     // body dribbled slowly
	ActionRateLimit    = "rate_limit"    // rejected by the per-client limiter with 429
	ActionReject       = "reject"        // refused as hostile or malformed (400/413/431)
)

// NoRetryAfter is the RetryAfterMs value of a record whose response announced no valid Retry-After.
const NoRetryAfter int64 = -1

// Record is one attempt as the proxy saw it. Field order here is the order the encoder writes.
type Record struct {
	Seq      uint64 `json:"seq"`       // position in this journal, from 1
	Time     int64  `json:"ts"`        // wall clock when the request arrived, Unix ns
	Mono     int64  `json:"mono"`      // monotonic ns since the proxy started
	Client   string `json:"client"`    // HashKey of the API key; "" when the request carried none
	Method   string `json:"method"`    // HTTP method
	Path     string `json:"path"`      // request path (no query)
	Op       string `json:"op"`        // correlation id of the logical operation
	IdemKey  string `json:"idem_key"`  // Idempotency-Key header as sent, "" if none
	BodyHash string `json:"body_hash"` // hex hash of the request body, "" if empty
	Attempt  int    `json:"attempt"`   // attempt number of Op as seen at the proxy, from 1

	Rule   string `json:"rule"`   // name of the rule that decided; "" for plain pass-through
	Action string `json:"action"` // one of the Action* constants
	Status int    `json:"status"` // status returned to the client; 0 when no HTTP response was sent

	RetryAfterMs int64  `json:"retry_after_ms"` // delay announced by Retry-After in ms; NoRetryAfter if none or malformed
	RetryAfter   string `json:"retry_after"`    // raw Retry-After value when it was not plain delay-seconds (HTTP-date, malformed); else ""

	UpstreamStatus int  `json:"upstream_status"` // status the target answered; 0 when not forwarded
	Executed       bool `json:"executed"`        // the target executed a side effect for this attempt
	Replayed       bool `json:"replayed"`        // the target answered with a stored idempotent replay

	DurNs int64  `json:"dur_ns"` // time the proxy spent on the attempt
	Err   string `json:"err"`    // transport error seen by the proxy, "" if none
	Body  string `json:"body"`   // request body, only when the proxy was asked to store bodies
}

// HashKey returns the journal form of an API key: "k_" and the first 16 hex digits of its
// SHA-256. The empty key hashes to "".
func HashKey(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	var b [18]byte
	b[0], b[1] = 'k', '_'
	hex.Encode(b[2:], sum[:8])
	return string(b[:])
}

// RetryAt returns the Unix ns time before which a retry of this attempt's operation
// violates its Retry-After, and false when no valid Retry-After was announced.
func (r *Record) RetryAt() (int64, bool) {
	if r.RetryAfterMs < 0 {
		return 0, false
	}
	return r.Time + r.DurNs + r.RetryAfterMs*1e6, true
}
